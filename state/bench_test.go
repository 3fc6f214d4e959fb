package state

import (
	"context"
	"testing"

	"github.com/runbook-dev/runbook/runbook"
)

// BenchmarkRecordHost measures one committed host-run update with its
// transition: the cost the walker pays before and after every command on
// every host, with synchronous=FULL (an fsync of the WAL per commit).
func BenchmarkRecordHost(b *testing.B) {
	s := openTemp(b)
	ctx := context.Background()
	_, steps := create(b, s, "2.4.0")
	h := steps[1].Hosts[0]
	h.State = runbook.RunRunning
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.Attempts = i
		tr := &runbook.Transition{From: "pending", To: "running", Event: "run", Operator: "alice"}
		if err := s.RecordHost(ctx, h, tr); err != nil {
			b.Fatal(err)
		}
	}
}
