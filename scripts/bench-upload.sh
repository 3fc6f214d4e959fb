#!/usr/bin/env bash
# Distribute an artifact to real OpenSSH sshd hosts on 127.0.0.1 with scp,
# the reference SFTP client, runbook's upload and a whole `runbook start`,
# side by side in rounds, and print a markdown table.
#
#   [TMPDIR=/dev/shm] scripts/bench-upload.sh [SIZE_MIB] [HOSTS] [BIG_MIB] [ROUNDS]
#
# SIZE_MIB (default 256) is the file sent in the throughput rows, HOSTS
# (default 8) the number of sshd started, BIG_MIB (default 1024) the file
# sent to every host by the peak-RSS row (0 leaves it out). Every row runs
# once per round, the rounds interleave the rows (ROUNDS, default 4), and
# the table shows each row's median round with its best in brackets; the
# ratios compare medians.
#
# The rows:
#   scp            scp -c aes128-gcm@openssh.com, one process per host
#   reference      refsftp (../shared/bench/refsftp, built here, never
#                  committed): the smallest SFTP fan-out that does only the
#                  transfer, with the same window as runbook (255 KiB x 2,
#                  aes128-gcm), fsyncing each copy as runbook does
#   reference + SHA-256 on the host
#                  refguard (scripts/refguard): the reference with what a
#                  stage must keep (temp name, fsync, SHA-256 read back on
#                  the host, rename), the artifact hashed beside the copy:
#                  what this machine allows a stage with the guarantees
#   ... hashed first
#                  refguard with HASH=first: the copies wait for the
#                  artifact's checksum, as runbook's do
#   runbook upload runbook's upload (scripts/benchupload): its "transfer"
#                  ends when the last host has its bytes synced, before the
#                  checksum there (what is left of it) and the rename
#   runbook start  the whole process of `runbook start --yes` of a runbook
#                  whose one step uploads to the hosts, all at once:
#                  reading the runbook, the state database, hashing the
#                  artifact, connecting, the checksum on every host, the
#                  rename and every commit
#   ssh cat        ssh HOST 'cat > file', one process per host
#
# Every clock includes connecting. "client CPU" is what the sending side
# used (scp rows: scp and its ssh), "hosts' CPU" what the sshd processes
# used (with runbook: the checksum on the hosts too). On loopback both
# share the same cores. TMPDIR=/dev/shm puts the hosts' deploy directories
# on tmpfs, to measure without the disk; the runbook's own directory (its
# state database) stays on disk, in STATE_DIR (default /var/tmp), as an
# operator's would. REFSFTP names the reference's source directory when it
# is not ../shared/bench/refsftp beside the repository (or its worktrees).
# Needs openssh-server and openssh-client, GNU time; run as root (sshd logs
# in as the current user).
set -euo pipefail

size_mib=${1:-256}
nhosts=${2:-8}
big_mib=${3:-1024}
rounds=${4:-4}
cipher=aes128-gcm@openssh.com

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/hosts-cpu.sh"
ref_src=${REFSFTP:-}
if [[ -z $ref_src ]]; then
	for d in "$root/../shared/bench/refsftp" "$root/../../shared/bench/refsftp"; do
		[[ -f $d/main.go ]] && ref_src=$(cd "$d" && pwd) && break
	done
fi
[[ -n $ref_src && -f $ref_src/main.go ]] || { echo "no reference client: set REFSFTP to the refsftp source directory" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "GNU time (/usr/bin/time) is needed: apt-get install time" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/runbook-bench.XXXXXX")
rbdir=$(mktemp -d "${STATE_DIR:-/var/tmp}/runbook-bench-rb.XXXXXX")
server_pid=
cleanup() {
	if [[ -n $server_pid ]]; then
		exec 3>&- || true
		wait "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$work" "$rbdir"
}
trap cleanup EXIT

echo "building benchupload, runbook and the reference client..." >&2
(cd "$root" && go build -o "$work/benchupload" ./scripts/benchupload && go build -o "$work/runbook" .)
(cd "$ref_src" && go build -o "$work/refsftp" .)
(cd "$root" && go build -o "$work/refguard" ./scripts/refguard)

# Incompressible data, so no layer can cheat by compressing.
head -c $((size_mib << 20)) /dev/urandom >"$work/artifact.ear"
if ((big_mib > 0)); then head -c $((big_mib << 20)) /dev/urandom >"$work/big.ear"; fi

# The server runs until its stdin (fd 3 here) closes.
mkfifo "$work/ctl"
"$work/benchupload" serve -n "$nhosts" -dir "$work/hosts" <"$work/ctl" >"$work/serve.out" &
server_pid=$!
exec 3>"$work/ctl"
for _ in $(seq 600); do
	grep -q ready "$work/serve.out" 2>/dev/null && break
	kill -0 "$server_pid" 2>/dev/null || { echo "benchupload serve died" >&2; exit 1; }
	sleep 0.1
done
grep -q ready "$work/serve.out"

mapfile -t hosts <"$work/hosts/hosts"
ssh_opts() { # key
	echo "-F /dev/null -o BatchMode=yes -o UserKnownHostsFile=$work/hosts/known_hosts -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -i $1 -c $cipher -o Compression=no"
}

# runbook_dir N FILE writes the runbook of the "runbook start" rows: one
# upload step to the first N hosts, all at once.
runbook_dir() {
	local d="$rbdir/$1-$(basename "$2" .ear)" i
	mkdir -p "$d"
	ln -sf "$2" "$d/app.ear"
	{
		echo "name: bench"
		echo "known_hosts: $work/hosts/known_hosts"
		echo "artifact: {path: app.ear}"
		echo "environments:"
		echo "  fleet:"
		echo "    parallel: $1"
		echo "    hosts:"
		for ((i = 0; i < $1; i++)); do
			read -r addr _ user key deploy <<<"${hosts[$i]}"
			echo "      - {name: h$i, address: \"$addr\", user: $user, auth: {key_file: $key}, deploy_dir: $deploy}"
		done
		echo "steps:"
		echo "  - {name: stage, on: fleet, upload: artifact}"
	} >"$d/runbook.yaml"
	echo "$d"
}

now() { date +%s.%N; }
rate() { # seconds bytes_per_host hosts
	awk -v s="$1" -v b="$2" -v n="$3" 'BEGIN { printf "%.0f", b * n / s / 1048576 }'
}

# children_cpu VAR sets VAR to the user+system seconds of this shell's
# waited-for children so far. times must run in this shell, not in a
# command substitution's.
children_cpu() {
	times >"$work/times"
	printf -v "$1" '%s' "$(awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%.2f", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$work/times")"
}

# since A B prints B - A to two places.
since() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'
}

# clean_hosts removes what earlier rows left in the deploy directories,
# so that every row writes into the same, empty ones.
clean_hosts() {
	local line deploy i
	for line in "${hosts[@]}"; do
		read -r _ _ _ _ deploy <<<"$line"
		find "$deploy" -mindepth 1 -delete
	done
	rm -rf "$work/ref"
	for ((i = 1; i <= nhosts; i++)); do mkdir -p "$work/ref/h$i"; done
}

# Every run appends "seconds transfer client_cpu hosts_cpu peak_rss_kib"
# to $work/res.KEY.
theirs() { # key hosts scp|cat|ref|guard|guardfirst
	local key=$1 n=$2 kind=$3 start end i cpu0 cpu srv0 srv xfer pids=() ports=()
	clean_hosts
	children_cpu cpu0
	hosts_cpu srv0
	start=$(now)
	if [[ $kind == ref || $kind == guard* ]]; then
		for ((i = 0; i < n; i++)); do
			read -r _ port _ _ _ <<<"${hosts[$i]}"
			ports+=("$port")
		done
		read -r _ _ _ k _ <<<"${hosts[0]}"
		# refsftp writes PATTERN/app.ear, PATTERN with 1 to n: directories
		# of the same file system as the deploy directories.
		if [[ $kind == ref ]]; then
			SYNC=1 "$work/refsftp" "$k" "$work/hosts/known_hosts" "$work/artifact.ear" "$work/ref/h%d" "${ports[@]}" 2>/dev/null
		else
			HASH=$([[ $kind == guardfirst ]] && echo first) "$work/refguard" "$k" "$work/hosts/known_hosts" "$work/artifact.ear" "$work/ref/h%d" "${ports[@]}" >"$work/guard.out"
		fi
	else
		for ((i = 0; i < n; i++)); do
			read -r addr port user k deploy <<<"${hosts[$i]}"
			# shellcheck disable=SC2046
			case $kind in
			scp) scp -q $(ssh_opts "$k") -P "$port" "$work/artifact.ear" "$user@127.0.0.1:$deploy/scp.ear" & ;;
			cat) ssh $(ssh_opts "$k") -p "$port" "$user@127.0.0.1" "cat > $deploy/cat.ear" <"$work/artifact.ear" & ;;
			esac
			pids+=($!)
		done
		for p in "${pids[@]}"; do wait "$p"; done
	fi
	end=$(now)
	children_cpu cpu
	hosts_cpu srv
	secs=$(since "$start" "$end")
	xfer=$secs
	if [[ $kind == guard* ]]; then xfer=$(sed -n 's/^transfer_seconds=//p' "$work/guard.out"); fi
	echo "$secs $xfer $(since "$cpu0" "$cpu") $(since "$srv0" "$srv") 0" >>"$work/res.$key"
}

ours() { # key hosts file
	local out srv0 srv
	clean_hosts
	hosts_cpu srv0
	out=$(/usr/bin/time -f 'maxrss_kib=%M' "$work/benchupload" upload -dir "$work/hosts" -n "$2" -file "$3" 2>&1)
	hosts_cpu srv
	field() { sed -n "s/.*\\b$1=\\([0-9.]*\\).*/\\1/p" <<<"$out"; }
	[[ -n $(field seconds) ]] || { echo "$out" >&2; exit 1; }
	echo "$(field seconds) $(field transfer_seconds) $(field cpu_seconds) $(since "$srv0" "$srv") $(field maxrss_kib)" >>"$work/res.$1"
}

start_n=0
start() { # key hosts file
	local d srv0 srv secs cpu rss
	d=$(runbook_dir "$2" "$3")
	clean_hosts
	start_n=$((start_n + 1))
	hosts_cpu srv0
	if ! (cd "$d" && /usr/bin/time -f '%e %U %S %M' -o "$work/time.out" "$work/runbook" start --version "r$start_n" --same-artifact --yes >"$work/start.out" 2>&1); then
		cat "$work/start.out" >&2
		exit 1
	fi
	hosts_cpu srv
	read -r secs u s rss <"$work/time.out"
	cpu=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
	echo "$secs - $cpu $(since "$srv0" "$srv") $rss" >>"$work/res.$1"
}

# stat KEY best|median prints that run's line (runs ordered by seconds).
stat() {
	sort -n "$work/res.$1" | awk -v w="$2" '{ l[NR] = $0 } END { print (w == "best" ? l[1] : l[int((NR + 1) / 2)]) }'
}

rows=()
row() { # label hosts mib key
	local med best peak secs xfer cpu srv
	med=$(stat "$4" median)
	best=$(stat "$4" best)
	peak=$(awk '$5 > m { m = $5 } END { if (m > 0) printf "%d MiB", m / 1024 }' "$work/res.$4")
	read -r secs xfer cpu srv _ <<<"$med"
	rows+=("| $1 | $2 | $3 MiB | $secs (${best%% *}) | $xfer | $(rate "$secs" $(($3 << 20)) "$2") | $cpu | $srv | $peak |")
}

ratio() { # KEY_A FIELD_A KEY_B FIELD_B: median A / median B (fields: 1 seconds, 2 transfer)
	awk -v a="$(stat "$1" median | cut -d' ' -f"$2")" -v b="$(stat "$3" median | cut -d' ' -f"$4")" 'BEGIN { printf "%.2f", a / b }'
}

# A first release creates the state database (not measured: an operator's
# exists), and warms the page cache.
start warmup1 1 "$work/artifact.ear"
start "warmup$nhosts" "$nhosts" "$work/artifact.ear"

# Rounds, not one row after the other: on a shared machine the neighbours
# then weigh on every row alike.
echo "running $rounds rounds..." >&2
for ((r = 0; r < rounds; r++)); do
	theirs scp1 1 scp
	theirs ref1 1 ref
	theirs guard1 1 guard
	theirs guardfirst1 1 guardfirst
	ours ours1 1 "$work/artifact.ear"
	start start1 1 "$work/artifact.ear"
	theirs "scp$nhosts" "$nhosts" scp
	theirs "ref$nhosts" "$nhosts" ref
	theirs "guard$nhosts" "$nhosts" guard
	theirs "guardfirst$nhosts" "$nhosts" guardfirst
	ours "ours$nhosts" "$nhosts" "$work/artifact.ear"
	start "start$nhosts" "$nhosts" "$work/artifact.ear"
	theirs "cat$nhosts" "$nhosts" cat
done
if ((big_mib > 0)); then start rss "$nhosts" "$work/big.ear"; fi
clean_hosts

row "scp ($cipher)" 1 "$size_mib" scp1
row "reference (refsftp, fsync)" 1 "$size_mib" ref1
row "reference + SHA-256 on the host (refguard)" 1 "$size_mib" guard1
row "... hashed first (refguard, HASH=first)" 1 "$size_mib" guardfirst1
row "runbook upload" 1 "$size_mib" ours1
row "runbook start (one upload step)" 1 "$size_mib" start1
row "scp ($cipher), parallel" "$nhosts" "$size_mib" "scp$nhosts"
row "reference (refsftp, fsync)" "$nhosts" "$size_mib" "ref$nhosts"
row "reference + SHA-256 on the host (refguard)" "$nhosts" "$size_mib" "guard$nhosts"
row "... hashed first (refguard, HASH=first)" "$nhosts" "$size_mib" "guardfirst$nhosts"
row "runbook upload" "$nhosts" "$size_mib" "ours$nhosts"
row "runbook start (one upload step)" "$nhosts" "$size_mib" "start$nhosts"
row "ssh 'cat > file' ($cipher), parallel" "$nhosts" "$size_mib" "cat$nhosts"
if ((big_mib > 0)); then row "runbook start, peak RSS" "$nhosts" "$big_mib" rss; fi

echo
echo "$(nproc) cores, $(ssh -V 2>&1), loopback, deploy dirs in ${TMPDIR:-/tmp}, state in ${STATE_DIR:-/var/tmp}; median of $rounds rounds (best in brackets); load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| what | hosts | file | seconds | transfer s | MiB/s (aggregate) | client CPU s | hosts' CPU s | peak RSS |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
echo "- 1 host: runbook's transfer $(ratio ours1 2 ref1 1)x the reference's; the whole runbook start $(ratio start1 1 scp1 1)x scp's (goals: <= 1.1, <= 0.7)"
echo "- reference + SHA-256 on the host, whole: 1 host $(ratio guard1 1 scp1 1)x scp's, $nhosts hosts $(ratio "guard$nhosts" 1 "scp$nhosts" 1)x; its transfer: 1 host $(ratio guard1 2 ref1 1)x the reference's, $nhosts hosts $(ratio "guard$nhosts" 2 "ref$nhosts" 1)x"
echo "- hashing first costs the reference + SHA-256 on the host: 1 host $(ratio guardfirst1 1 guard1 1)x its time, $nhosts hosts $(ratio "guardfirst$nhosts" 1 "guard$nhosts" 1)x; runbook start against it hashed first: 1 host $(ratio start1 1 guardfirst1 1)x, $nhosts hosts $(ratio "start$nhosts" 1 "guardfirst$nhosts" 1)x"
echo "- runbook against the reference + SHA-256 on the host: whole start 1 host $(ratio start1 1 guard1 1)x, $nhosts hosts $(ratio "start$nhosts" 1 "guard$nhosts" 1)x; transfer 1 host $(ratio ours1 2 guard1 2)x, $nhosts hosts $(ratio "ours$nhosts" 2 "guard$nhosts" 2)x"
echo "- $nhosts hosts: runbook's transfer $(ratio "ours$nhosts" 2 "ref$nhosts" 1)x the reference's; the whole runbook start $(ratio "start$nhosts" 1 "scp$nhosts" 1)x $nhosts parallel scp (goals: <= 1.1, <= 0.7)"
