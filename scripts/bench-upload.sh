#!/usr/bin/env bash
# Compare runbook's SFTP upload with scp and ssh 'cat > file' against real
# OpenSSH sshd hosts on 127.0.0.1, and print a markdown table.
#
#   [TMPDIR=/dev/shm] scripts/bench-upload.sh [SIZE_MIB] [HOSTS] [BIG_MIB] [REPEAT]
#
# SIZE_MIB (default 256) is the file sent in the throughput rows, HOSTS
# (default 8) the number of sshd started, BIG_MIB (default 1024) the file
# sent to every host for the peak-RSS row. The throughput rows run in
# REPEAT rounds (default 5); the table shows each row's median run, its
# best in brackets, and the ratios compare medians. Every row's clock
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
repeat=${4:-5}
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

# Every run appends "seconds transfer client_cpu hosts_cpu peak_rss_kib"
# to $work/res.KEY.
theirs() { # key hosts scp|cat
	local key=$1 n=$2 kind=$3 start end i cpu0 cpu srv0 srv pids=()
	children_cpu cpu0
	server_cpu srv0
	start=$(now)
	for ((i = 0; i < n; i++)); do
		read -r addr port user k deploy <<<"${hosts[$i]}"
		# shellcheck disable=SC2046
		case $kind in
		scp) scp -q $(ssh_opts "$port" "$k") -P "$port" "$work/artifact.ear" "$user@127.0.0.1:$deploy/scp.ear" & ;;
		cat) ssh $(ssh_opts "$port" "$k") -p "$port" "$user@127.0.0.1" "cat > $deploy/cat.ear" <"$work/artifact.ear" & ;;
		esac
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p"; done
	end=$(now)
	children_cpu cpu
	server_cpu srv
	secs=$(since "$start" "$end")
	echo "$secs $secs $(since "$cpu0" "$cpu") $(since "$srv0" "$srv") 0" >>"$work/res.$key"
}

ours() { # key hosts file
	local out srv0 srv rss
	server_cpu srv0
	if [[ -x /usr/bin/time ]]; then
		out=$(/usr/bin/time -f 'maxrss_kib=%M' "$work/benchupload" upload -dir "$work/hosts" -n "$2" -file "$3" 2>&1)
	else
		out=$("$work/benchupload" upload -dir "$work/hosts" -n "$2" -file "$3" 2>&1)
	fi
	server_cpu srv
	field() { sed -n "s/.*\\b$1=\\([0-9.]*\\).*/\\1/p" <<<"$out"; }
	[[ -n $(field seconds) ]] || { echo "$out" >&2; exit 1; }
	rss=$(field maxrss_kib)
	[[ -n $rss ]] || rss=$(field peak_rss_kib)
	echo "$(field seconds) $(field transfer_seconds) $(field cpu_seconds) $(since "$srv0" "$srv") $rss" >>"$work/res.$1"
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

ratio() { # KEY_A KEY_B FIELD: median A / median B of field (1 seconds, 2 transfer)
	awk -v a="$(stat "$1" median | cut -d' ' -f"$3")" -v b="$(stat "$2" median | cut -d' ' -f"$3")" 'BEGIN { printf "%.2f", a / b }'
}

# Rounds, not one row after the other: on a shared machine the neighbours
# then weigh on every row alike.
echo "running $repeat rounds..." >&2
for ((r = 0; r < repeat; r++)); do
	theirs scp1 1 scp
	ours ours1 1 "$work/artifact.ear"
	theirs "scp$nhosts" "$nhosts" scp
	ours "ours$nhosts" "$nhosts" "$work/artifact.ear"
	theirs "cat$nhosts" "$nhosts" cat
done
ours rss "$nhosts" "$work/big.ear"

row "scp ($cipher)" 1 "$size_mib" scp1
row "runbook upload (SFTP, checksum on the host, rename)" 1 "$size_mib" ours1
row "scp ($cipher), parallel" "$nhosts" "$size_mib" "scp$nhosts"
row "ssh 'cat > file' ($cipher), parallel" "$nhosts" "$size_mib" "cat$nhosts"
row "runbook upload (SFTP, checksum on the host, rename)" "$nhosts" "$size_mib" "ours$nhosts"
row "runbook upload, peak RSS" "$nhosts" "$big_mib" rss

echo
echo "$(nproc) cores, $(ssh -V 2>&1), loopback, median of $repeat rounds (best in brackets), load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| what | hosts | file | seconds | transfer s | MiB/s (aggregate) | client CPU s | hosts' CPU s | peak RSS |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
echo "- one host: transfer $(ratio scp1 ours1 2)× as fast as scp; the whole upload, checksum on the host included, $(ratio scp1 ours1 1)×"
echo "- $nhosts hosts: transfer $(ratio "scp$nhosts" "ours$nhosts" 2)× as fast as $nhosts parallel scp and $(ratio "cat$nhosts" "ours$nhosts" 2)× as fast as $nhosts ssh 'cat > file'; the whole step takes $(ratio "ours$nhosts" "scp$nhosts" 1)× the parallel scp wall time"
