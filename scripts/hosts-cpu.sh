# Sourced by the benchmark scripts, not run.
#
# hosts_cpu VAR sets VAR to a counter of CPU seconds: what the whole
# machine has spent (/proc/stat: user, nice, system, irq, softirq) less
# what the calling shell and the children it waited for have (its
# /proc/PID/stat fields 14-17: the client under test, jq, awk). Its
# difference over a run is the hosts' side of that run on loopback: sshd,
# the sessions and everything they start, and, on a machine doing nothing
# else, little more. The calling shell is $BASHPID, taken before any
# command substitution: a client run in a ( ) subshell is that subshell's
# child, not the script's.
#
# It once summed the CPU the sshd listeners had reaped from their
# sessions instead. That misses nearly all of a host shell's work: when a
# connection closes, sshd-session exits before the host shell it started,
# which init then reaps, with the CPU of every command the shell ran. Ten
# steps of a busy loop taking 3.4 s on a host counted 0.08 s that way
# (BENCHMARKS.md, issue 18, seventh part).
hosts_cpu() {
	local me=$BASHPID busy mine
	busy=$(awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8; exit }' /proc/stat)
	mine=$(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$me/stat")
	printf -v "$1" '%s' "$(awk -v b="$busy" -v m="$mine" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - m) / hz }')"
}
