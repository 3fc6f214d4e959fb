#!/usr/bin/env bash
# Compare runbook's SFTP upload with scp and ssh 'cat > file' against real
# OpenSSH sshd hosts on 127.0.0.1, and print a markdown table.
#
#   [TMPDIR=/dev/shm] scripts/bench-upload.sh [SIZE_MIB] [HOSTS] [BIG_MIB] [REPEAT]
#
# SIZE_MIB (default 256) is the file sent in the throughput rows, HOSTS
# (default 8) the number of sshd started, BIG_MIB (default 1024) the file
# sent to every host for the peak-RSS row. Every throughput row is run
# REPEAT times (default 3) and the fastest run is shown: on a shared
# machine the slower runs measure the neighbours. Every row's clock
# includes connecting, as a whole scp process does; "transfer" stops when
# the bytes are on the hosts (before runbook's checksum there and rename),
# "client CPU" is what the sending side used (scp rows: scp and its ssh),
# "hosts' CPU" what the sshd processes used (with runbook: the checksum on
# the host too). On loopback both share the same cores. TMPDIR=/dev/shm
# puts the hosts' deploy directories on tmpfs, to measure without the disk.
# Needs openssh-server and openssh-client; run as root (sshd logs in as the
# current user).
set -euo pipefail

size_mib=${1:-256}
nhosts=${2:-8}
big_mib=${3:-1024}
repeat=${4:-3}
cipher=aes128-gcm@openssh.com

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/runbook-bench.XXXXXX")
server_pid=
cleanup() {
	if [[ -n $server_pid ]]; then
		exec 3>&- || true
		wait "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

echo "building benchupload..." >&2
(cd "$root" && go build -o "$work/benchupload" ./scripts/benchupload)

# Incompressible data, so no layer can cheat by compressing.
head -c $((size_mib << 20)) /dev/urandom >"$work/artifact.ear"
head -c $((big_mib << 20)) /dev/urandom >"$work/big.ear"

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
ssh_opts() { # port key
	echo "-F /dev/null -o BatchMode=yes -o UserKnownHostsFile=$work/hosts/known_hosts -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -i $2 -c $cipher -o Compression=no"
}

now() { date +%s.%N; }
rate() { # seconds bytes_per_host hosts
	awk -v s="$1" -v b="$2" -v n="$3" 'BEGIN { printf "%.0f", b * n / s / 1048576 }'
}

bytes=$((size_mib << 20))
declare -a rows

# children_cpu VAR sets VAR to the user+system seconds of this shell's
# waited-for children so far. times must run in this shell, not in a
# command substitution's.
children_cpu() {
	times >"$work/times"
	printf -v "$1" '%s' "$(awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%.2f", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$work/times")"
}

# server_cpu VAR sets VAR to the CPU seconds the sshd hosts have used, the
# sessions they reaped included (/proc/PID/stat fields 14-17).
server_cpu() {
	local pid sum=0
	for pid in $(cat "$work/hosts/pids"); do
		sum=$((sum + $(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pid/stat")))
	done
	printf -v "$1" '%s' "$(awk -v t="$sum" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }')"
}

# since A B prints B - A to two places.
since() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'
}

# Best-of results of the comparison rows, for the ratios at the end.
declare -A best_secs best_xfer

run_parallel() { # label hosts kind
	local label=$1 n=$2 kind=$3 start end i r secs best= cpu0 cpu bestcpu= srv0 srv bestsrv=
	for ((r = 0; r < repeat; r++)); do
		children_cpu cpu0
		server_cpu srv0
		local pids=()
		start=$(now)
		for ((i = 0; i < n; i++)); do
			read -r addr port user key deploy <<<"${hosts[$i]}"
			# shellcheck disable=SC2046
			case $kind in
			scp) scp -q $(ssh_opts "$port" "$key") -P "$port" "$work/artifact.ear" "$user@127.0.0.1:$deploy/scp.ear" & ;;
			cat) ssh $(ssh_opts "$port" "$key") -p "$port" "$user@127.0.0.1" "cat > $deploy/cat.ear" <"$work/artifact.ear" & ;;
			esac
			pids+=($!)
		done
		for p in "${pids[@]}"; do wait "$p"; done
		end=$(now)
		children_cpu cpu
		server_cpu srv
		cpu=$(since "$cpu0" "$cpu") srv=$(since "$srv0" "$srv")
		secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
		if [[ -z $best || $(min "$best" "$secs") != "$best" ]]; then
			best=$secs bestcpu=$cpu bestsrv=$srv
		fi
	done
	best_secs[$kind$n]=$best best_xfer[$kind$n]=$best
	rows+=("| $label | $n | $size_mib MiB | $best | $best | $(rate "$best" "$bytes" "$n") | $bestcpu | $bestsrv | |")
}

min() { # a b: the smaller, b when a is empty
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b + 0 < a + 0) print b; else print a }'
}

ours() { # label hosts file mib runs key
	local out secs xfer mibps cpu rss r best= bestxfer= bestmibps= bestcpu= peak=0 srv0 srv bestsrv=
	for ((r = 0; r < $5; r++)); do
		server_cpu srv0
		if [[ -x /usr/bin/time ]]; then
			out=$(/usr/bin/time -f 'maxrss_kib=%M' "$work/benchupload" upload -dir "$work/hosts" -n "$2" -file "$3" 2>&1)
		else
			out=$("$work/benchupload" upload -dir "$work/hosts" -n "$2" -file "$3" 2>&1)
		fi
		secs=$(sed -n 's/.* seconds=\([0-9.]*\).*/\1/p' <<<"$out")
		xfer=$(sed -n 's/.*transfer_seconds=\([0-9.]*\).*/\1/p' <<<"$out")
		cpu=$(sed -n 's/.*cpu_seconds=\([0-9.]*\).*/\1/p' <<<"$out")
		server_cpu srv
		srv=$(since "$srv0" "$srv")
		mibps=$(sed -n 's/.*mibps=\([0-9]*\).*/\1/p' <<<"$out")
		rss=$(sed -n 's/.*maxrss_kib=\([0-9]*\).*/\1/p' <<<"$out")
		[[ -n $rss ]] || rss=$(sed -n 's/.*peak_rss_kib=\([0-9]*\).*/\1/p' <<<"$out")
		[[ -n $secs ]] || { echo "$out" >&2; exit 1; }
		if [[ -z $best || $(min "$best" "$secs") != "$best" ]]; then
			best=$secs bestxfer=$xfer bestmibps=$mibps bestcpu=$cpu bestsrv=$srv
		fi
		((rss > peak)) && peak=$rss
	done
	best_secs[$6]=$best best_xfer[$6]=$bestxfer
	rows+=("| $1 | $2 | $4 MiB | $best | $bestxfer | $bestmibps | $bestcpu | $bestsrv | $((peak / 1024)) MiB |")
}

ratio() { # a b: a / b to two places
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
}

echo "running..." >&2
run_parallel "scp ($cipher)" 1 scp
run_parallel "scp ($cipher), parallel" "$nhosts" scp
run_parallel "ssh 'cat > file' ($cipher), parallel" "$nhosts" cat
ours "runbook upload (SFTP, checksum, rename)" 1 "$work/artifact.ear" "$size_mib" "$repeat" ours1
ours "runbook upload (SFTP, checksum, rename)" "$nhosts" "$work/artifact.ear" "$size_mib" "$repeat" "ours$nhosts"
ours "runbook upload, peak RSS" "$nhosts" "$work/big.ear" "$big_mib" 1 rss

echo
echo "$(nproc) cores, $(ssh -V 2>&1), loopback, best of $repeat, load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| what | hosts | file | seconds | transfer s | MiB/s (aggregate) | client CPU s | hosts' CPU s | peak RSS |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
echo "- one host: transfer $(ratio "${best_xfer[scp1]}" "${best_xfer[ours1]}")× as fast as scp; whole upload with the checksum on the host $(ratio "${best_secs[scp1]}" "${best_secs[ours1]}")×"
echo "- $nhosts hosts: transfer $(ratio "${best_xfer[scp$nhosts]}" "${best_xfer[ours$nhosts]}")× as fast as $nhosts parallel scp, $(ratio "${best_xfer[cat$nhosts]}" "${best_xfer[ours$nhosts]}")× as fast as $nhosts ssh 'cat > file'; whole step $(ratio "${best_secs[ours$nhosts]}" "${best_secs[scp$nhosts]}")× the parallel scp wall time"
