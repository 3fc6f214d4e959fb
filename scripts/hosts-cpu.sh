# Sourced by the benchmark scripts, not run.
#
# hosts_cpu PIDS_FILE prints the CPU seconds the sshd whose pids the file
# lists have used, the sessions they reaped included (/proc/PID/stat
# fields 14-17): the hosts' side of a run on loopback.
hosts_cpu() {
	local pid sum=0
	for pid in $(cat "$1"); do
		sum=$((sum + $(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pid/stat")))
	done
	awk -v t="$sum" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }'
}
