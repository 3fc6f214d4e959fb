package remotetest

// The conventions of the fault tests here and in runbook/e2e: quick runs
// in `make test`, full ones under `make faults` (RUNBOOK_FAULTS=full),
// random choices replayable from a logged seed, and measured figures on
// lines the make targets collect.

import (
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"
)

// FullFaults reports whether the long fault runs were asked for.
func FullFaults() bool { return os.Getenv("RUNBOOK_FAULTS") == "full" }

// Rounds is quick in `make test`, full under `make faults`.
func Rounds(quick, full int) int {
	if FullFaults() {
		return full
	}
	return quick
}

// FaultRand returns a generator seeded from RUNBOOK_FAULTS_SEED, else from
// the clock; the seed is logged so that a failing run can be replayed.
func FaultRand(t testing.TB) *rand.Rand {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("RUNBOOK_FAULTS_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("RUNBOOK_FAULTS_SEED=%q: %v", s, err)
		}
	}
	t.Logf("seed %d (RUNBOOK_FAULTS_SEED=%d replays it)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed^0x5eed))
}

// Figure logs a measured figure ("figure: ..."); the figure of a test
// that failed says so first, since its "0 ..." claims do not hold.
func Figure(t testing.TB, format string, args ...any) {
	t.Helper()
	if t.Failed() {
		format = "FAILED: " + format
	}
	t.Logf("figure: "+format, args...)
}
