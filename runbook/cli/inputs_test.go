package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"text/template"

	"github.com/runbook-dev/runbook/runbook"
)

// The example `runbook init` writes is what authors copy: it must validate
// without a single warning, so it teaches q where values are spliced.
func TestExampleHasNoWarnings(t *testing.T) {
	vt := newVaultTest(t)
	vt.must(0, "", "init", vt.dir)
	r := vt.must(0, "", "validate")
	if strings.Contains(r.stderr, "warning") || strings.Contains(r.stdout, "warning") {
		t.Errorf("the example has warnings:\n%s", r)
	}
}

// Even with the version check bypassed, the example's commands keep a
// hostile version or deploy directory a value: H-1's $(touch …) inside
// double quotes and the newline that ended a shell comment run nothing.
func TestExampleCommandsHoldHostileValues(t *testing.T) {
	vt := newVaultTest(t)
	vt.must(0, "", "init", vt.dir)
	rb, err := runbook.Load(vt.path("runbook.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	pwned := filepath.Join(vt.dir, "PWNED")
	hostile := []string{"$(touch " + pwned + ")", "1.0\ntouch " + pwned + " #", "1.0'; touch " + pwned + "; '", "`touch " + pwned + "`"}
	funcs := template.FuncMap{"q": runbook.ShellQuote, "secret": func(string) (string, error) { return "s", nil }}
	ran := 0
	for _, v := range hostile {
		for _, s := range rb.Steps {
			env := rb.Envs[s.On]
			if env == nil {
				continue
			}
			for _, text := range []string{s.Command(env), s.Verify, s.Undo} {
				if text == "" {
					continue
				}
				for _, h := range env.Hosts {
					// Render as Render does, minus its version check.
					d := runbook.TemplateData{Version: v, Release: runbook.TemplateRelease{Previous: v, Dir: h.DeployDir + "/releases/" + v},
						Host: runbook.TemplateHost{Name: h.Name, DeployDir: h.DeployDir + "/" + v}, Env: runbook.TemplateEnv{Name: env.Name}}
					var b strings.Builder
					if err := template.Must(template.New("c").Option("missingkey=error").Funcs(funcs).Parse(text)).Execute(&b, d); err != nil {
						t.Fatal(err)
					}
					cmd := exec.Command("/bin/sh", "-s")
					cmd.Dir, cmd.Stdin = vt.dir, strings.NewReader(b.String())
					_ = cmd.Run() // most fail on the odd directory; none may run the payload
					ran++
					if _, err := os.Stat(pwned); err == nil {
						t.Fatalf("step %s with version %q ran the payload:\n%s", s.Name, v, b.String())
					}
				}
			}
		}
	}
	if ran < 20 {
		t.Fatalf("only %d commands ran", ran)
	}
}

// report -o writes the report 0600, less under a stricter umask, and never
// widens a file it replaces (L-12).
func TestReportFileMode(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name     string
		umask    int
		existing os.FileMode // 0: no file before
		want     os.FileMode
	}{
		{"new, umask 022", 0o022, 0, 0o600},
		{"new, umask 000", 0o000, 0, 0o600},
		{"new, umask 077", 0o077, 0, 0o600},
		{"new, umask 277", 0o277, 0, 0o400},
		{"replaces 0644", 0o022, 0o644, 0o600},
		{"replaces 0400", 0o022, 0o400, 0o400},
		{"replaces 0640", 0o000, 0o640, 0o600},
	} {
		p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".html")
		if tc.existing != 0 {
			if err := os.WriteFile(p, []byte("old"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, tc.existing); err != nil {
				t.Fatal(err)
			}
		}
		old := syscall.Umask(tc.umask)
		err := writeFileAtomic(p, []byte("<html>"))
		syscall.Umask(old)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != tc.want {
			t.Errorf("%s: mode %v, want %v", tc.name, fi.Mode().Perm(), tc.want)
		}
	}
}
