package steps

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/runbook-dev/runbook/runbook"
)

// Hosts of one machine that receive the artifact at the same time read
// their copies back, and so does a host on the operator's own machine (a
// loopback address), whose CPU runbook's side of the transfer uses; a
// host with a machine of its own, or one that receives alone, hashes its
// copy as it arrives.
func TestSharesMachine(t *testing.T) {
	p := filepath.Join(t.TempDir(), "runbook.yaml")
	if err := os.WriteFile(p, []byte(`name: m
artifact: {path: app.ear}
environments:
  fleet:
    parallel: 4
    deploy_dir: /d
    hosts:
      - {name: a1, address: "127.0.0.1:2201"}
      - {name: a2, address: "127.0.0.1:2202"}
      - {name: b, address: "10.0.0.2"}
      - {name: c, address: "[::1]:22"}
      - {name: d, address: "localhost:2203"}
      - {name: e1, address: "10.0.0.3:22"}
  rolling:
    deploy_dir: /d
    hosts:
      - {name: r1, address: "10.0.0.3:2201"}
      - {name: r2, address: "10.0.0.3:2202"}
      - {name: r3, address: "127.0.0.2:2201"}
steps:
  - {name: stage, on: fleet, upload: artifact}
  - {name: one-at-a-time, on: fleet, upload: artifact, parallel: 1}
  - {name: rolling, on: rolling, upload: artifact}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	rb, err := runbook.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		step, host string
		want       bool
	}{
		{"stage", "a1", true},
		{"stage", "a2", true},
		{"stage", "b", false},
		{"stage", "c", true},
		{"stage", "d", true},
		{"one-at-a-time", "a1", true},
		{"one-at-a-time", "e1", false},
		{"rolling", "r1", false},
		{"rolling", "r3", true},
	} {
		if got := sharesMachine(rb, rb.Step(tc.step), rb.HostByName(tc.host)); got != tc.want {
			t.Errorf("%s on %s: shares a machine %v, want %v", tc.step, tc.host, got, tc.want)
		}
	}
}
