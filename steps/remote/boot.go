package remote

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// Run markers are written without fsync on SSH hosts (a shell has no way
// to sync a file without starting a program on every step), and the local
// transport skips it where it can tell boots apart. That is safe as long
// as the machine has not restarted since the run's intent was committed:
// a crashed process leaves its writes in the page cache, a power cut or a
// reboot may not. So "no .started" means "never started" only when the
// host booted before the intent; after a boot it is in doubt.

// The margins absorb the clocks: the intent is stamped by the operator's
// machine, the boot time by the host (locally, by the same clock, give or
// take a second). A run whose intent falls within the margin after a boot
// is treated as if the boot came after it: in doubt, the safe side. A host
// clock behind the operator's by more than the margin hides a restart, and
// the markers are then read as before this check existed; a wider margin
// would make every run interrupted in the first minutes after a boot a
// question for the operator.
const (
	localBootMargin  = 30 * time.Second
	remoteBootMargin = 2 * time.Minute
)

// bootedSince reports whether a machine that booted at boot may have
// restarted after since, the commit of a run's intent. Unknown times (zero)
// give false for since (nothing to compare: the caller keeps what the
// markers say) and true for boot (no way to rule a restart out).
func bootedSince(boot, since time.Time, margin time.Duration) bool {
	if since.IsZero() {
		return false
	}
	if boot.IsZero() {
		return true
	}
	return !boot.Before(since.Add(-margin))
}

// retentionMargin allows for clocks that jumped: the sweep measures a
// marker's age by the host's clock, pastRetention an intent's by the
// operator's.
const retentionMargin = 24 * time.Hour

// pastRetention reports whether the markers of a run whose intent was
// committed at since may have been swept (MarkerRetention): then their
// absence proves nothing. False for an unknown since.
func pastRetention(since time.Time) bool {
	return !since.IsZero() && time.Since(since) > MarkerRetention-retentionMargin
}

// parseBtime reads the btime line of /proc/stat (Linux): the boot time in
// seconds since the epoch. Zero when absent.
func parseBtime(stat string) time.Time {
	for line := range strings.Lines(stat) {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			if s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && s > 0 {
				return time.Unix(s, 0)
			}
		}
	}
	return time.Time{}
}

// LocalBootTime reports when this machine booted, zero where /proc/stat is
// not. A test build (-tags faults) replaces it to pretend a restart.
var LocalBootTime = localBootTime

func localBootTime() time.Time {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}
	}
	return parseBtime(string(b))
}
