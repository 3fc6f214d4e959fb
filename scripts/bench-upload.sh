#!/usr/bin/env bash
# Compare runbook's SFTP upload with scp and ssh 'cat > file' against real
# OpenSSH sshd hosts on 127.0.0.1, and print a markdown table.
#
#   scripts/bench-upload.sh [SIZE_MIB] [HOSTS] [BIG_MIB] [REPEAT]
#
# SIZE_MIB (default 256) is the file sent in the throughput rows, HOSTS
# (default 8) the number of sshd started, BIG_MIB (default 1024) the file
# sent to every host for the peak-RSS row. Every throughput row is run
# REPEAT times (default 3) and the fastest run is shown: on a shared
# machine the slower runs measure the neighbours. Needs openssh-server and
# openssh-client; run as root (sshd logs in as the current user).
set -euo pipefail

size_mib=${1:-256}
nhosts=${2:-8}
big_mib=${3:-1024}
repeat=${4:-3}
cipher=aes128-gcm@openssh.com

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/runbook-bench.XXXXXX)
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

run_parallel() { # label hosts kind
	local label=$1 n=$2 kind=$3 start end i r secs best=
	for ((r = 0; r < repeat; r++)); do
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
		secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
		best=$(min "$best" "$secs")
	done
	rows+=("| $label | $n | $size_mib MiB | $best | $(rate "$best" "$bytes" "$n") | |")
}

min() { # a b: the smaller, b when a is empty
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b + 0 < a + 0) print b; else print a }'
}

ours() { # label hosts file mib runs
	local out secs mibps rss r best= bestmibps= peak=0
	for ((r = 0; r < $5; r++)); do
		if [[ -x /usr/bin/time ]]; then
			out=$(/usr/bin/time -f 'maxrss_kib=%M' "$work/benchupload" upload -dir "$work/hosts" -n "$2" -file "$3" 2>&1)
		else
			out=$("$work/benchupload" upload -dir "$work/hosts" -n "$2" -file "$3" 2>&1)
		fi
		secs=$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' <<<"$out")
		mibps=$(sed -n 's/.*mibps=\([0-9]*\).*/\1/p' <<<"$out")
		rss=$(sed -n 's/.*maxrss_kib=\([0-9]*\).*/\1/p' <<<"$out")
		[[ -n $rss ]] || rss=$(sed -n 's/.*peak_rss_kib=\([0-9]*\).*/\1/p' <<<"$out")
		[[ -n $secs ]] || { echo "$out" >&2; exit 1; }
		if [[ -z $best || $(min "$best" "$secs") != "$best" ]]; then
			best=$secs bestmibps=$mibps
		fi
		((rss > peak)) && peak=$rss
	done
	rows+=("| $1 | $2 | $4 MiB | $best | $bestmibps | $((peak / 1024)) MiB |")
}

echo "running..." >&2
run_parallel "scp ($cipher)" 1 scp
run_parallel "scp ($cipher), parallel" "$nhosts" scp
run_parallel "ssh 'cat > file' ($cipher), parallel" "$nhosts" cat
ours "runbook upload (SFTP, checksum, rename)" 1 "$work/artifact.ear" "$size_mib" "$repeat"
ours "runbook upload (SFTP, checksum, rename)" "$nhosts" "$work/artifact.ear" "$size_mib" "$repeat"
ours "runbook upload, peak RSS" "$nhosts" "$work/big.ear" "$big_mib" 1

echo
echo "$(nproc) cores, $(ssh -V 2>&1), loopback, best of $repeat, load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| what | hosts | file | seconds | MiB/s (aggregate) | peak RSS |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
