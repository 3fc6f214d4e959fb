#!/usr/bin/env bash
# The night of issue 15, part 2: production behind the prerelease host,
# reached over a slow link. Real OpenSSH sshd on 127.0.0.1: pre1 and HOSTS
# production hosts; `tc` limits only the traffic to pre1's sshd port to
# RATE (the operator's link into the data centre), so what goes from
# pre1 to production (the data-centre network) is unshaped. Prints a
# markdown table.
#
#   scripts/bench-relay.sh [SIZE_MIB] [HOSTS] [RATE] [ROUNDS]
#
# SIZE_MIB (default 64) is the artifact, HOSTS (default 8) the production
# hosts, RATE (default 100mbit, as tc writes it) the link to pre1, ROUNDS
# (default 3) how often each row runs; the rows interleave and the table
# shows each row's median with its best in brackets.
#
# The rows (every clock includes connecting; the deploy directories of
# every host, pre1's relay copy included, are emptied before each run):
#   scp to pre1      scp -c aes128-gcm@openssh.com of the artifact to
#                    pre1: one copy over the link, the yardstick
#   runbook, pre1    `runbook start` of a runbook whose one step uploads
#                    to pre1: the same copy, runbook's whole process
#   runbook, relay   `runbook start`, one upload step to production (via:
#                    pre1) with relay: pre1
#   runbook, no relay the same without relay: one copy per host through
#                    pre1 as the jump host
#   scp -J           HOSTS parallel scp through pre1 (ProxyJump spelled out
#                    as ProxyCommand ssh -W, so the jump's ssh gets the same
#                    options)
#
# The qdisc is removed when the script ends, whatever ends it. It needs
# root (tc, and sshd logs in as the current user), openssh-server and
# openssh-client, GNU time. Never part of `make test`.
set -euo pipefail

size_mib=${1:-64}
nprod=${2:-8}
rate=${3:-100mbit}
rounds=${4:-3}
cipher=aes128-gcm@openssh.com

root=$(cd "$(dirname "$0")/.." && pwd)
[[ -x /usr/bin/time ]] || { echo "GNU time (/usr/bin/time) is needed: apt-get install time" >&2; exit 2; }
command -v tc >/dev/null || { echo "tc is needed: apt-get install iproute2" >&2; exit 2; }
if tc qdisc show dev lo | grep -q htb; then
	echo "lo already has an htb qdisc (another benchmark?): not touching it" >&2
	exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/runbook-relay.XXXXXX")
rbdir=$(mktemp -d "${STATE_DIR:-/var/tmp}/runbook-relay-rb.XXXXXX")
server_pid=
shaped=
cleanup() {
	if [[ -n $shaped ]]; then
		tc qdisc del dev lo root 2>/dev/null || true
	fi
	if [[ -n $server_pid ]]; then
		exec 3>&- || true
		wait "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$work" "$rbdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "building benchupload and runbook..." >&2
(cd "$root" && go build -o "$work/benchupload" ./scripts/benchupload && go build -o "$work/runbook" .)
head -c $((size_mib << 20)) /dev/urandom >"$work/artifact.ear"

# pre1 is the first host the server starts, production the others.
mkfifo "$work/ctl"
"$work/benchupload" serve -n $((nprod + 1)) -dir "$work/hosts" <"$work/ctl" >"$work/serve.out" &
server_pid=$!
exec 3>"$work/ctl"
for _ in $(seq 600); do
	grep -q ready "$work/serve.out" 2>/dev/null && break
	kill -0 "$server_pid" 2>/dev/null || { echo "benchupload serve died" >&2; exit 1; }
	sleep 0.1
done
grep -q ready "$work/serve.out"
mapfile -t hosts <"$work/hosts/hosts"
read -r _ pre_port user key pre_deploy <<<"${hosts[0]}"

# Only what goes to pre1's sshd is slowed: the operator's uplink.
shaped=1
tc qdisc add dev lo root handle 1: htb default 10
tc class add dev lo parent 1: classid 1:10 htb rate 100gbit
tc class add dev lo parent 1: classid 1:20 htb rate "$rate"
tc filter add dev lo protocol ip parent 1: prio 1 u32 match ip dport "$pre_port" 0xffff flowid 1:20

opts=(-F /dev/null -o BatchMode=yes -o "UserKnownHostsFile=$work/hosts/known_hosts" -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -i "$key" -c "$cipher" -o Compression=no)

# runbook_dir NAME RELAY writes a runbook: NAME=pre uploads to pre1 alone;
# NAME=prod to production through pre1, with relay: pre1 when RELAY=1.
runbook_dir() {
	local d="$rbdir/$1$2" i
	mkdir -p "$d"
	ln -sf "$work/artifact.ear" "$d/app.ear"
	{
		echo "name: bench"
		echo "known_hosts: $work/hosts/known_hosts"
		echo "artifact: {path: app.ear}"
		echo "environments:"
		echo "  prerelease:"
		echo "    hosts: [{name: pre1, address: \"127.0.0.1:$pre_port\", user: $user, auth: {key_file: $key}, deploy_dir: $pre_deploy}]"
		echo "  production:"
		echo "    via: pre1"
		echo "    parallel: $nprod"
		echo "    hosts:"
		for ((i = 1; i <= nprod; i++)); do
			read -r addr _ _ _ deploy <<<"${hosts[$i]}"
			echo "      - {name: prod$i, address: \"$addr\", user: $user, auth: {key_file: $key}, deploy_dir: $deploy}"
		done
		echo "steps:"
		if [[ $1 == pre ]]; then
			echo "  - {name: stage, on: prerelease, upload: artifact}"
		elif [[ $2 == 1 ]]; then
			echo "  - {name: stage, on: production, upload: artifact, relay: pre1}"
		else
			echo "  - {name: stage, on: production, upload: artifact}"
		fi
	} >"$d/runbook.yaml"
	echo "$d"
}
pre_dir=$(runbook_dir pre 0)
relay_dir=$(runbook_dir prod 1)
direct_dir=$(runbook_dir prod 0)

clean_hosts() {
	local line deploy
	for line in "${hosts[@]}"; do
		read -r _ _ _ _ deploy <<<"$line"
		find "$deploy" -mindepth 1 -delete
	done
}

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

n=0
# rb KEY DIR: one `runbook start`, its wall time appended to res.KEY.
rb() {
	n=$((n + 1))
	clean_hosts
	if ! (cd "$2" && /usr/bin/time -f '%e' -o "$work/time.out" "$work/runbook" start --version "r$n" --same-artifact --yes >"$work/start.out" 2>&1); then
		cat "$work/start.out" >&2
		exit 1
	fi
	cat "$work/time.out" >>"$work/res.$1"
	cp "$work/start.out" "$work/last.$1"
}

# scp_pre: one scp to pre1.
scp_pre() {
	local start
	clean_hosts
	start=$(now)
	scp -q "${opts[@]}" -P "$pre_port" "$work/artifact.ear" "$user@127.0.0.1:$pre_deploy/scp.ear"
	echo "$(since "$start" "$(now)")" >>"$work/res.scppre"
}

# scp_jump: a parallel scp through pre1 to every production host.
scp_jump() {
	local start i pids=() addr port deploy
	clean_hosts
	start=$(now)
	for ((i = 1; i <= nprod; i++)); do
		read -r addr port _ _ deploy <<<"${hosts[$i]}"
		scp -q "${opts[@]}" -o "ProxyCommand=ssh ${opts[*]} -p $pre_port -W %h:%p $user@127.0.0.1" -P "$port" "$work/artifact.ear" "$user@127.0.0.1:$deploy/scp.ear" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p"; done
	echo "$(since "$start" "$(now)")" >>"$work/res.scpj"
}

# The first release creates the state databases (not measured).
rb warm "$pre_dir"
rb warm "$relay_dir"
rb warm "$direct_dir"

echo "running $rounds rounds..." >&2
for ((r = 0; r < rounds; r++)); do
	scp_pre
	rb pre "$pre_dir"
	rb relay "$relay_dir"
	rb direct "$direct_dir"
	scp_jump
done

median() { sort -n "$work/res.$1" | awk '{ l[NR] = $1 } END { print l[int((NR + 1) / 2)] }'; }
best() { sort -n "$work/res.$1" | head -1; }
row() { echo "| $1 | $2 | $(median "$3") ($(best "$3")) |"; }
ratio() { awk -v a="$(median "$1")" -v b="$(median "$2")" 'BEGIN { printf "%.2f", a / b }'; }

echo
echo "$(nproc) cores, $(ssh -V 2>&1), loopback, the link to pre1 shaped to $rate (htb), $size_mib MiB artifact, $nprod production hosts; median of $rounds rounds (best in brackets); load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| what | copies over the link | seconds |"
echo "|---|---|---|"
row "scp to pre1 (one copy over the link)" 1 scppre
row "runbook start, one upload step to pre1" 1 pre
row "runbook start, upload to production with relay: pre1" 1 relay
row "runbook start, upload to production through pre1 (via), no relay" "$nprod" direct
row "$nprod parallel scp -J pre1" "$nprod" scpj
echo
echo "- relay: $(ratio relay scppre)x one copy over the link (goal <= 1.5)"
echo "- no relay: $(ratio direct relay)x relay; $nprod scp -J: $(ratio scpj relay)x relay (goals >= 5)"
echo
echo "the last relayed run said:"
sed 's/^/    /' "$work/last.relay"
