#!/usr/bin/env bash
# One release night on a fleet of real OpenSSH sshd on 127.0.0.1, three
# ways side by side: runbook, an expert's shell script, ansible-playbook.
#
#   scripts/bench-fleet.sh [HOSTS] [PARALLEL] [ROUNDS] [ROWS]
#
# HOSTS (default 100) sshd are started, each with a clean HOME of its own
# (scripts/benchfleet). The night is 10 steps: 6 trivial commands, a
# 16 MiB upload (checksummed on the host, renamed into releases/<v>/),
# the switch of `current`, and a restart operation with a verify;
# PARALLEL (default 20) hosts at a time (forks, xargs -P). ROWS (default
# "runbook script ansible floor") picks the rows; ROUNDS (default 1) repeats
# them, interleaved, each on wiped hosts (deploy dirs and HOMEs emptied).
#
# For every row: the wall time of the whole command, the peak RSS of its
# largest process (GNU time's %M: for runbook, runbook itself), and the
# `Accepted publickey` lines the sshd logged during it (runbook must log
# exactly HOSTS: one connection per host for the whole run). Then
# runbook's cost of each step on HOSTS hosts beside the same night on 8,
# from its own record (`report --format json`).
#
# The floor row is scripts/floorfleet: the smallest program that does
# only the night's work, the cheapest way found here (one shell per host
# for every command, builtins forking nothing; no record, no markers, no
# process groups). It is what this machine allows, not a tool anyone
# would run; runbook's distance to it is what its guarantees cost.
# The guarded row (not in the default ROWS) is floorfleet -record: the
# same, plus the least runbook's guarantees need (a durable intent before
# every host run and its outcome after, group-committed; every command
# in a process group of its own that writes a .started before it and an
# .rc after it; the markers removed through SFTP). It is the floor of a
# tool with those guarantees.
#
# Never run by `make test`: the numbers mean something only on a quiet
# machine. Needs openssh-server, openssh-client, GNU time, go, jq and,
# for the Ansible row, Debian's ansible-core (apt-get install ansible-core);
# run as root (sshd logs in as the current user).
#
# RUNBOOK_BIN=FILE measures that runbook binary instead of this tree's.
# RUNBOOK_PROFILE=DIR also runs runbook's row once more in-process under
# pprof (DIR/cpu.pprof, DIR/heap.pprof) and under `strace -f -c`
# (DIR/strace.txt): where the time goes.
set -euo pipefail

nhosts=${1:-100}
parallel=${2:-20}
rounds=${3:-1}
rows=${4:-runbook script ansible floor}
small=8
version=1.0.0

need() {
	command -v "$1" >/dev/null || { echo "bench-fleet: $1 is missing: $2" >&2; exit 1; }
}
need /usr/sbin/sshd "apt-get install openssh-server"
need ssh "apt-get install openssh-client"
need scp "apt-get install openssh-client"
need /usr/bin/time "apt-get install time"
need go "install Go"
need jq "apt-get install jq"
case " $rows " in *" ansible "*) need ansible-playbook "apt-get install ansible-core" ;; esac
if [[ -n ${RUNBOOK_PROFILE:-} ]]; then need strace "apt-get install strace"; fi

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/hosts-cpu.sh"
work=$(mktemp -d "${TMPDIR:-/tmp}/runbook-fleet.XXXXXX")
server_pid=
cleanup() {
	if [[ -n $server_pid ]]; then
		exec 3>&- || true
		wait "$server_pid" 2>/dev/null || true
	fi
	# Whatever the script's and Ansible's masters left (a failure, a kill).
	for s in "$work"/cm/* "$work"/ansible/cp/*; do
		[[ -S $s ]] && ssh -o ControlPath="$s" -O exit x 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT

echo "building runbook, benchfleet and floorfleet..." >&2
(cd "$root" && CGO_ENABLED=0 go build -trimpath -o "$work/runbook" . && go build -o "$work/benchfleet" ./scripts/benchfleet && go build -o "$work/floorfleet" ./scripts/floorfleet)
if [[ -n ${RUNBOOK_BIN:-} ]]; then
	cp "$RUNBOOK_BIN" "$work/runbook" # another build to compare (RUNBOOK_PROFILE still profiles this tree's)
fi

echo "starting $nhosts sshd..." >&2
mkfifo "$work/ctl"
"$work/benchfleet" serve -n "$nhosts" -dir "$work/fleet" <"$work/ctl" >"$work/serve.out" &
server_pid=$!
exec 3>"$work/ctl"
for _ in $(seq 3000); do
	grep -q ready "$work/serve.out" 2>/dev/null && break
	kill -0 "$server_pid" 2>/dev/null || { echo "benchfleet serve died" >&2; exit 1; }
	sleep 0.1
done
grep -q ready "$work/serve.out"
mapfile -t fleet <"$work/fleet/hosts"
read -r _ _ user key _ <<<"${fleet[0]}"
known=$work/fleet/known_hosts

# The artifact: incompressible, so no layer can cheat by compressing.
head -c $((16 << 20)) /dev/urandom >"$work/app.ear"
sum=$(sha256sum "$work/app.ear" | cut -d' ' -f1)

# The night's commands, the same for the three rows. The restart writes
# the release it "runs" beside current; the verify reads it.
cmds=(
	'test -d "$HOME"'
	'uname -n >/dev/null'
	'echo checking'
	'df -P . >/dev/null'
	'id -u >/dev/null'
	'date +%s >/dev/null'
)
restart='readlink "$D/current" > "$D/running"'
verify='grep -qx "releases/$V" "$D/running"'

# wipe empties every host: deploy dirs and HOMEs (markers, ~/.ansible).
wipe() {
	local name port u k deploy home log
	for line in "${fleet[@]}"; do
		read -r name port u k deploy home log <<<"$line"
		find "$deploy" "$home" -mindepth 1 -delete
	done
}

# accepted prints how many `Accepted publickey` lines the sshd have logged.
accepted() {
	local n=0 name port u k deploy home log
	for line in "${fleet[@]}"; do
		read -r name port u k deploy home log <<<"$line"
		n=$((n + $(grep -c 'Accepted publickey' "$log" || true)))
	done
	echo "$n"
}

# ---- runbook -------------------------------------------------------------
runbook_file() { # dir hosts
	local dir=$1 n=$2 i name port u k deploy home log
	mkdir -p "$dir"
	ln -sf "$work/app.ear" "$dir/app.ear"
	{
		echo "name: fleet"
		echo "artifact: {path: app.ear}"
		echo "known_hosts: $known"
		echo "environments:"
		echo "  prod:"
		echo "    user: $user"
		echo "    auth: {key_file: $key}"
		echo "    parallel: $parallel"
		echo "    operations:"
		echo "      restart: $(jq -Rn --arg c "D={{ .Host.DeployDir | q }}; $restart" '$c')"
		echo "    hosts:"
		for ((i = 0; i < n; i++)); do
			read -r name port u k deploy home log <<<"${fleet[$i]}"
			echo "      - {name: $name, address: \"127.0.0.1:$port\", deploy_dir: $deploy}"
		done
		echo "steps:"
		for i in "${!cmds[@]}"; do
			printf '  - name: check-%d\n    on: prod\n    run: %s\n' "$((i + 1))" "$(jq -Rn --arg c "${cmds[$i]}" '$c')"
		done
		echo "  - {name: stage, on: prod, upload: artifact}"
		echo "  - {name: activate, on: prod, activate: true}"
		printf '  - name: restart\n    on: prod\n    op: restart\n    verify: %s\n' \
			"$(jq -Rn --arg c "D={{ .Host.DeployDir | q }}; V={{ .Version | q }}; $verify" '$c')"
	} >"$dir/runbook.yaml"
}

# Every run appends "seconds peak_rss_kib accepted client_cpu hosts_cpu"
# to $work/res.ROW. The CPU columns say what the machine did, which a
# loaded machine changes much less than the wall time.
measure() { # row command...
	local row=$1 before cpu0 cpu1 secs rss user sys conns cpu
	shift
	before=$(accepted)
	hosts_cpu cpu0
	/usr/bin/time -o "$work/time" -f '%e %M %U %S' "$@" >"$work/$row.log" 2>&1 ||
		{ echo "$row failed:"; tail -n 40 "$work/$row.log"; cat "$work/time"; exit 1; } >&2
	read -r secs rss user sys <"$work/time"
	conns=$(($(accepted) - before))
	hosts_cpu cpu1
	cpu=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }')
	echo "$secs $rss $conns $(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }') $cpu" >>"$work/res.$row"
	echo "  $row: ${secs}s, peak RSS $((rss / 1024)) MiB, $conns connections, client CPU $(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')s, hosts' CPU ${cpu}s" >&2
}

run_runbook() { # row hosts
	local dir=$work/rb-$1
	rm -rf "$dir"
	runbook_file "$dir" "$2"
	(cd "$dir" && HOME=$work/operator-home measure "$1" "$work/runbook" start --version "$version" --yes)
	(cd "$dir" && HOME=$work/operator-home "$work/runbook" report --format json -o "$work/$1.json")
}

# ---- the expert's script ---------------------------------------------------
# One OpenSSH ControlMaster per host, every step over the masters with
# xargs -P, scp over them too; stops at the first step that failed
# anywhere.
cat >"$work/expert.sh" <<'SCRIPT'
#!/usr/bin/env bash
set -euo pipefail
# hosts: lines "name port user key deploy ...", $P at a time.
hosts=$1 P=$2 V=$3 CM=$4 KNOWN=$5 EAR=$6 SUM=$7
opts() { echo "-F /dev/null -o BatchMode=yes -o UserKnownHostsFile=$KNOWN -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -o ControlPath=$CM/%p"; }
# on name port user key deploy CMD: CMD on that host, over its master.
on() { local port=$2 user=$3 key=$4; shift 5; ssh $(opts) -i "$key" -p "$port" "$user@127.0.0.1" "$@"; }
export V CM KNOWN EAR SUM
export -f opts on
# each 'SCRIPT': SCRIPT with $1..$5 = name port user key deploy, for
# every host, $P at a time; fails when it failed on any host.
each() { cut -d' ' -f1-5 "$hosts" | xargs -P "$P" -L 1 bash -c "$1" _; }
mkdir -p "$CM"
each 'ssh $(opts) -i "$4" -p "$2" -o ControlMaster=yes -o ControlPersist=yes -N -f "$3@127.0.0.1"'
trap 'each '"'"'ssh $(opts) -p "$2" -O exit "$3@127.0.0.1" 2>/dev/null'"'"' || true' EXIT
SCRIPT
for c in "${cmds[@]}"; do
	printf 'export C=%q\n' "$c" >>"$work/expert.sh"
	cat >>"$work/expert.sh" <<'SCRIPT'
each 'on "$@" "cd \"\$HOME\" && $C"'
SCRIPT
done
printf 'export RV=%q\n' "$restart && $verify" >>"$work/expert.sh"
cat >>"$work/expert.sh" <<'SCRIPT'
each 'on "$@" "mkdir -p $5/releases/$V" && scp -q $(opts) -i "$4" -P "$2" "$EAR" "$3@127.0.0.1:$5/releases/$V/.app.ear.part" && on "$@" "cd $5/releases/$V && echo \"$SUM  .app.ear.part\" | sha256sum -c --quiet && mv .app.ear.part app.ear"'
each 'on "$@" "cd $5 && ln -sfn releases/$V .current.new && mv -T .current.new current"'
each 'on "$@" "D=$5; V=$V; $RV"'
SCRIPT

run_script() {
	head -n "$nhosts" "$work/fleet/hosts" >"$work/script-hosts"
	rm -rf "$work/cm"
	measure script bash "$work/expert.sh" "$work/script-hosts" "$parallel" "$version" "$work/cm" "$known" "$work/app.ear" "$sum"
}

# ---- ansible-playbook -----------------------------------------------------
ansible_setup() {
	local a=$work/ansible name port u k deploy home log c
	mkdir -p "$a/home" "$a/cp"
	cat >"$a/ansible.cfg" <<EOF
[defaults]
inventory = $a/inventory
forks = $parallel
gathering = explicit
host_key_checking = True
interpreter_python = /usr/bin/python3
retry_files_enabled = False
[ssh_connection]
pipelining = True
ssh_args = -F /dev/null -o ControlMaster=auto -o ControlPersist=600s -o UserKnownHostsFile=$known -o IdentitiesOnly=yes
control_path_dir = $a/cp
EOF
	{
		echo "[prod]"
		for line in "${fleet[@]}"; do
			read -r name port u k deploy home log <<<"$line"
			echo "$name ansible_host=127.0.0.1 ansible_port=$port deploy=$deploy"
		done
		echo "[prod:vars]"
		echo "ansible_user=$user"
		echo "ansible_ssh_private_key_file=$key"
	} >"$a/inventory"
	{
		echo "- hosts: prod"
		echo "  gather_facts: false"
		echo "  any_errors_fatal: true"
		echo "  vars: {version: \"$version\"}"
		echo "  tasks:"
		for c in "${cmds[@]}"; do
			echo "    - shell: $(jq -Rn --arg c "cd \"\$HOME\" && $c" '$c')"
		done
		echo "    - file: {path: \"{{ deploy }}/releases/{{ version }}\", state: directory}"
		echo "    - copy: {src: \"$work/app.ear\", dest: \"{{ deploy }}/releases/{{ version }}/app.ear\", checksum: \"$(sha1sum "$work/app.ear" | cut -d' ' -f1)\"}"
		echo "    - shell: cd {{ deploy }} && ln -sfn releases/{{ version }} .current.new && mv -T .current.new current"
		echo "    - shell: $(jq -Rn --arg c "D={{ deploy }}; V={{ version }}; $restart && $verify" '$c')"
	} >"$a/playbook.yml"
}

# ansible-playbook leaves its ControlPersist masters behind; they are
# closed as part of its row (a few milliseconds), so that their sshd
# sessions end and their CPU counts in the hosts' column.
cat >"$work/ansible.sh" <<'SCRIPT'
#!/usr/bin/env bash
cp=$1
shift
rc=0
ansible-playbook "$@" || rc=$?
for s in "$cp"/*; do [[ -S $s ]] && ssh -o ControlPath="$s" -O exit x 2>/dev/null; done
exit "$rc"
SCRIPT

run_ansible() {
	local a=$work/ansible
	rm -rf "$a/cp"/*
	ANSIBLE_CONFIG=$a/ansible.cfg HOME=$a/home measure ansible bash "$work/ansible.sh" "$a/cp" -l "$(cut -d' ' -f1 "$work/fleet/hosts" | head -n "$nhosts" | paste -sd, -)" "$a/playbook.yml"
}

# ---- the floor ----------------------------------------------------------------
run_floor() {
	head -n "$nhosts" "$work/fleet/hosts" >"$work/floor-hosts"
	measure floor "$work/floorfleet" -hosts "$work/floor-hosts" -known "$known" -file "$work/app.ear" -parallel "$parallel" \
		-restart "$restart" -verify "$verify" "${cmds[@]}"
}

run_guarded() {
	head -n "$nhosts" "$work/fleet/hosts" >"$work/floor-hosts"
	rm -f "$work/guarded.record"
	measure guarded "$work/floorfleet" -record "$work/guarded.record" -hosts "$work/floor-hosts" -known "$known" -file "$work/app.ear" -parallel "$parallel" \
		-restart "$restart" -verify "$verify" "${cmds[@]}"
}

case " $rows " in *" ansible "*) ansible_setup ;; esac
mkdir -p "$work/operator-home"

for ((r = 1; r <= rounds; r++)); do
	echo "round $r of $rounds" >&2
	for row in $rows; do
		wipe
		case $row in
		runbook) run_runbook runbook "$nhosts" ;;
		script) run_script ;;
		ansible) run_ansible ;;
		floor) run_floor ;;
		guarded) run_guarded ;;
		*) echo "unknown row $row" >&2; exit 2 ;;
		esac
	done
done

# runbook's night on 8 hosts, for the per-step cost beside HOSTS.
if [[ " $rows " == *" runbook "* ]]; then
	wipe
	run_runbook small "$small"
fi

if [[ -n ${RUNBOOK_PROFILE:-} ]]; then
	mkdir -p "$RUNBOOK_PROFILE"
	prof=$(cd "$RUNBOOK_PROFILE" && pwd)
	echo "profiling runbook's row..." >&2
	wipe
	dir=$work/rb-prof
	runbook_file "$dir" "$nhosts"
	(cd "$dir" && HOME=$work/operator-home "$work/benchfleet" runbook -cpuprofile "$prof/cpu.pprof" -memprofile "$prof/heap.pprof" -- start --version "$version" --yes >"$prof/runbook.log" 2>&1)
	wipe
	rm -rf "$dir"
	runbook_file "$dir" "$nhosts"
	(cd "$dir" && HOME=$work/operator-home strace -f -c -o "$prof/strace.txt" "$work/runbook" start --version "$version" --yes >/dev/null 2>&1)
	echo "profiles in $prof: go tool pprof -top $prof/cpu.pprof; $prof/strace.txt" >&2
fi

# ---- the table --------------------------------------------------------------
median() { # row field(1 seconds, 2 rss, 3 accepted, 4 client CPU, 5 hosts' CPU)
	sort -n "$work/res.$1" | awk -v f="$2" '{ v[NR] = $f } END { print v[int((NR + 1) / 2)] }'
}
label() {
	case $1 in
	runbook) echo "runbook start --yes" ;;
	script) echo "shell script (ControlMaster per host, xargs -P $parallel, scp)" ;;
	ansible) echo "ansible-playbook (forks $parallel, pipelining, ControlPersist, facts off)" ;;
	floor) echo "floor (scripts/floorfleet: only the work, no record, no markers)" ;;
	guarded) echo "guarded floor (floorfleet -record: the work, a durable record, markers, a process group per command)" ;;
	esac
}
echo
echo "$(nproc) cores, $(ssh -V 2>&1), $(ansible-playbook --version 2>/dev/null | head -n1 || true), $nhosts hosts on 127.0.0.1, parallel $parallel, median of $rounds round(s), load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| what | seconds | peak RSS | Accepted publickey | client CPU s | hosts' CPU s |"
echo "|---|---|---|---|---|---|"
for row in $rows; do
	echo "| $(label "$row") | $(median "$row" 1) | $(($(median "$row" 2) / 1024)) MiB | $(median "$row" 3) | $(median "$row" 4) | $(median "$row" 5) |"
done
if [[ -f $work/res.runbook ]]; then
	echo
	for other in script ansible; do
		[[ -f $work/res.$other ]] || continue
		echo "- runbook is $(awk -v a="$(median "$other" 1)" -v b="$(median runbook 1)" 'BEGIN { printf "%.1f", a / b }')× as fast as the $other row"
	done
	if [[ -f $work/res.floor ]]; then
		echo "- runbook takes $(awk -v a="$(median runbook 1)" -v b="$(median floor 1)" 'BEGIN { printf "%.2f", a / b }')× the floor's time"
		if [[ -f $work/res.ansible ]]; then
			echo "- the floor is $(awk -v a="$(median ansible 1)" -v b="$(median floor 1)" 'BEGIN { printf "%.1f", a / b }')× as fast as the ansible row"
		fi
	fi
	if [[ -f $work/res.guarded ]]; then
		echo "- runbook takes $(awk -v a="$(median runbook 1)" -v b="$(median guarded 1)" 'BEGIN { printf "%.2f", a / b }')× the guarded floor's time"
		for other in script ansible; do
			[[ -f $work/res.$other ]] || continue
			echo "- the guarded floor is $(awk -v a="$(median "$other" 1)" -v b="$(median guarded 1)" 'BEGIN { printf "%.1f", a / b }')× as fast as the $other row"
		done
	fi
	conns=$(median runbook 3)
	[[ $conns == "$nhosts" ]] || echo "- WARNING: runbook made $conns connections, not $nhosts"
	echo
	echo "runbook, per step (from its record; last round):"
	echo
	echo "| step | $nhosts hosts (s) | $small hosts (s) | per host run on $nhosts (ms) |"
	echo "|---|---|---|---|"
	jq -r --slurpfile small "$work/small.json" --argjson n "$nhosts" '
		.steps as $big | range(0; $big | length) as $i |
		"| \($big[$i].name) | \($big[$i].duration_ms / 1000) | \($small[0].steps[$i].duration_ms / 1000) | \(($big[$i].duration_ms / $n * 10 | round) / 10) |"' "$work/runbook.json"
fi
