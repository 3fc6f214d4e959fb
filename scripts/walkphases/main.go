// Command walkphases runs runbook in this process and says where the
// time of each step goes: the time between consecutive crash points
// (runbook.Hit, remote.Hit) — the intent's commit, opening the output and
// the markers and forking the shell, the command, the outcome — as the
// median and mean over every step. BENCHMARKS.md's engine section reads
// it beside BenchmarkWalk500.
//
//	go run ./scripts/walkphases start --version 1 --yes --state postgres://… >/dev/null
//
// The phases go to stderr when runbook exits.
package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/runbook/cli"
	"github.com/runbook-dev/runbook/steps/remote"
)

func main() {
	var mu sync.Mutex
	last := time.Now()
	lastP := "begin"
	acc := map[string][]time.Duration{} // "from -> to": every interval
	hit := func(p string) {
		mu.Lock()
		now := time.Now()
		k := lastP + " -> " + p
		acc[k] = append(acc[k], now.Sub(last))
		last, lastP = now, p
		mu.Unlock()
	}
	runbook.Hit = hit
	remote.Hit = hit
	code := cli.Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	var keys []string
	for k := range acc {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := acc[k]
		sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
		var sum time.Duration
		for _, d := range v {
			sum += d
		}
		fmt.Fprintf(os.Stderr, "%-50s n=%4d median %6.3f ms mean %6.3f ms\n", k, len(v), float64(v[len(v)/2].Microseconds())/1000, float64(sum.Microseconds())/float64(len(v))/1000)
	}
	os.Exit(code)
}
