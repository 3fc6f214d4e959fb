package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUploadProgressBars: on a terminal, an upload shows a bar per host
// with the bytes sent and the rate, and the walk's lines stay readable.
func TestUploadProgressBars(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "runbook.yaml", `name: t
artifact: {path: big.ear}
environments:
  production:
    local: true
    parallel: 2
    hosts:
      - {name: prod1, deploy_dir: hosts/prod1}
      - {name: prod2, deploy_dir: hosts/prod2}
steps:
  - {name: stage, on: production, upload: artifact}
`)
	if err := os.WriteFile(filepath.Join(dir, "big.ear"), make([]byte, 64<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	tm := newTmux(t)
	tm.run(dir, bin+" start --version 1 --yes")
	tm.waitFor("EXIT=0")
	screen := tm.screen()
	for _, want := range []string{"prod1 ", "prod2 ", "64.0 MiB / 64.0 MiB", "✓ prod1 done", "✓ prod2 done", "release 1 succeeded"} {
		if !strings.Contains(screen, want) {
			t.Errorf("screen lacks %q:\n%s", want, screen)
		}
	}
	// The rate's unit depends on how fast this machine copies locally.
	if !strings.Contains(screen, "MiB/s") && !strings.Contains(screen, "GiB/s") {
		t.Errorf("screen shows no transfer rate:\n%s", screen)
	}
	// Without a terminal there are no bars, only the summary lines.
	dir2 := t.TempDir()
	write(t, dir2, "runbook.yaml", read(t, filepath.Join(dir, "runbook.yaml")))
	if err := os.WriteFile(filepath.Join(dir2, "big.ear"), make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(t, dir2, "start", "--version", "1", "--yes")
	if r.code != 0 || strings.Contains(r.stdout, "MiB/s") || !strings.Contains(r.stdout, "staged big.ear") {
		t.Fatalf("non-terminal upload output:\n%s", r)
	}
}
