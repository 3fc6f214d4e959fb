package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/state/postgres/pgtest"
)

// BenchmarkWalk500 measures a 500-step runbook of `true` with --yes, the
// whole process, against 500 `sh -s` spawns (the engine's own way of
// running a command) from one Go process. The difference per step is the
// engine's overhead: templates, four durable commits, markers, output.
//
// The tmpfs variant keeps the state database and markers in /dev/shm: the
// difference between the two is what the durable commits (fsync) cost.
// The postgres variant keeps the record on a PostgreSQL server of this
// machine (pgtest: synchronous_commit on, fsync on, its cluster on the
// same disk as the temporary directory), over TCP on 127.0.0.1; the
// postgres-reference variant runs scripts/refwalk there instead of
// runbook: two commits and the spawn per step, nothing else.
//
//	go test -run '^$' -bench Walk500 -benchtime 3x ./runbook/e2e/
func BenchmarkWalk500(b *testing.B) {
	b.Run("disk", func(b *testing.B) { benchWalk(b, "disk") })
	if _, err := os.Stat("/dev/shm"); err == nil {
		b.Run("tmpfs", func(b *testing.B) { benchWalk(b, "tmpfs") })
	}
	b.Run("postgres", func(b *testing.B) { benchWalk(b, "postgres") })
	b.Run("postgres-reference", func(b *testing.B) { benchWalk(b, "postgres-reference") })
}

func benchWalk(b *testing.B, record string) {
	const n = 500
	var sb strings.Builder
	sb.WriteString("name: bench\nenvironments:\n  build: {local: true}\nsteps:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "  - {name: s%03d, on: build, run: \"true\"}\n", i)
	}
	var walk, spawn time.Duration
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		write(b, dir, "runbook.yaml", sb.String())
		args := []string{"start", "--version", "1", "--yes"}
		switch record {
		case "tmpfs":
			shm, err := os.MkdirTemp("/dev/shm", "runbook-bench")
			if err != nil {
				b.Fatal(err)
			}
			defer os.RemoveAll(shm)
			args = append(args, "--state", filepath.Join(shm, "state.db"))
		case "postgres", "postgres-reference":
			c := pgtest.Shared(b)
			b.Setenv("PGPASSWORD", pgtest.Password)
			db, err := c.NewDatabase()
			if err != nil {
				b.Fatal(err)
			}
			args = append(args, "--state", c.URL(db, false))
			if record == "postgres-reference" {
				// The smallest program that commits an intent, runs sh -s
				// and commits the outcome (scripts/refwalk), timed as a
				// whole process like runbook.
				args = []string{refwalkBin(b), "-walk", "-n", fmt.Sprint(n), "-url", c.URL(db, false)}
			}
		}
		t0 := time.Now()
		if record == "postgres-reference" {
			if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
				b.Fatalf("refwalk: %v\n%s", err, out)
			}
			walk += time.Since(t0)
		} else {
			r := run(b, dir, args...)
			walk += time.Since(t0)
			if r.code != 0 {
				b.Fatalf("%s", r)
			}
		}

		t0 = time.Now()
		for j := 0; j < n; j++ {
			cmd := exec.Command("/bin/sh", "-s")
			cmd.Stdin = strings.NewReader("true\n")
			if err := cmd.Run(); err != nil {
				b.Fatal(err)
			}
		}
		spawn += time.Since(t0)
	}
	perStep := float64(walk.Microseconds()) / float64(b.N*n) / 1000
	perSpawn := float64(spawn.Microseconds()) / float64(b.N*n) / 1000
	b.ReportMetric(float64(walk.Milliseconds())/float64(b.N), "ms/walk")
	b.ReportMetric(perStep, "ms/step")
	b.ReportMetric(perSpawn, "ms/spawn")
	b.ReportMetric(perStep-perSpawn, "ms-overhead/step")
}

// refwalkBin is scripts/refwalk, built once beside the runbook binary.
func refwalkBin(b *testing.B) string {
	return built(b, "refwalk", "github.com/runbook-dev/runbook/scripts/refwalk")
}
