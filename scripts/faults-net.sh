#!/usr/bin/env bash
# `make faults-net`: runbook under network, disk, bad-input and secrets
# faults (reliability-net-disk.md). Runs the fault tests at full size
# (RUNBOOK_FAULTS=full), then every fuzz target for $FUZZTIME from its
# checked-in seed corpus, logs everything to $1 and prints the figures.
#
#   scripts/faults-net.sh [LOG]     env: GO (go), FUZZTIME (30s),
#                                   RUNBOOK_FAULTS_SEED (replay a run)
set -uo pipefail
cd "$(dirname "$0")/.."

log=${1:-bin/faults-net.log}
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}
mkdir -p "$(dirname "$log")"
: >"$log"
export RUNBOOK_FAULTS=full
rc=0

step() {
	echo "== $*" >>"$log"
	"$@" >>"$log" 2>&1 || rc=1
}

# Network (a proxy on 127.0.0.1 cuts or black-holes connections at random
# bytes), full disks (tmpfs), and the secrets property test.
step "$GO" test -count=1 -timeout 30m -v -run '^(TestFault|TestTruncatedScriptRunsNothing$)' ./steps/remote/
step "$GO" test -count=1 -timeout 60m -v -run '^TestFault' ./runbook/e2e/
step "$GO" test -count=1 -v -run '^TestMaskProperty$' ./secrets/
if grep -q -- '--- PASS: TestMaskProperty' "$log"; then
	echo "figure: masker property test (secrets/property_test.go): random secrets, encodings and write chunking, stream == Mask and no form of any secret left: passed" >>"$log"
fi

# Bad input: each fuzz target for FUZZTIME. A failing input is written to
# the target's testdata/fuzz directory by go test; that, not the exit
# status alone, is what fails the run: Go 1.26's fuzz coordinator can end
# a clean run with "context deadline exceeded" (golang/go#75804).
for target in runbook:FuzzParse runbook:FuzzTemplate runbook:FuzzCheckVersion runbook:FuzzReleaseDir \
	runbook:FuzzShellQuote runbook:FuzzTermSafe secrets:FuzzOpen secrets:FuzzMaskWriter \
	steps/remote:FuzzKnownHosts steps/remote:FuzzSSHConfig; do
	pkg=./${target%%:*}
	fn=${target##*:}
	corpus=$pkg/testdata/fuzz/$fn
	before=$(ls "$corpus" 2>/dev/null | sort)
	seeds=$(ls "$corpus" 2>/dev/null | wc -l)
	echo "== $GO test -run '^\$' -fuzz '^$fn\$' -fuzztime $FUZZTIME $pkg" >>"$log"
	out=$("$GO" test -run '^$' -fuzz "^$fn\$" -fuzztime "$FUZZTIME" "$pkg" 2>&1)
	status=$?
	echo "$out" >>"$log"
	last=$(grep -E '^fuzz: elapsed' <<<"$out" | tail -1 |
		sed -E 's/^fuzz: elapsed: ([^,]+), execs: ([0-9]+) .*new interesting: ([0-9]+) \(total: ([0-9]+)\).*/\2 inputs in \1, \3 new interesting (corpus \4)/')
	added=$(comm -13 <(echo "$before") <(ls "$corpus" 2>/dev/null | sort) | tr '\n' ' ')
	if [ "$status" -eq 0 ]; then
		echo "figure: fuzz $fn ($pkg, $seeds seeds checked in): $last; 0 failures" >>"$log"
	elif [ -z "$added" ] && grep -q 'context deadline exceeded' <<<"$out"; then
		echo "figure: fuzz $fn ($pkg, $seeds seeds checked in): $last; 0 failures (the run ended on golang/go#75804, no failing input)" >>"$log"
	else
		rc=1
		echo "figure: fuzz $fn ($pkg): FAILED; failing input: ${added:-none written, see $log}" >>"$log"
	fi
done

grep -hE 'figure:|seed [0-9]+|^(--- FAIL|FAIL|ok )' "$log" | sed -E 's/^ +[a-z_]+\.go:[0-9]+: //'
echo "full log: $log"
exit $rc
