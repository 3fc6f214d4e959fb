package remote

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestHeredocDelimiterNeverInScript(t *testing.T) {
	open, rest := heredoc("echo a\nRUNBOOK_x\n")
	delim := strings.TrimSuffix(strings.TrimPrefix(open, "<<'"), "'")
	if strings.Count(rest, "\n"+delim+"\n") != 1 || !strings.HasSuffix(rest, "\n"+delim+"\n") {
		t.Errorf("heredoc %q ... %q is not closed exactly once at the end", open, rest)
	}
	if _, rest := heredoc("no newline"); !strings.HasPrefix(rest, "no newline\n") {
		t.Errorf("body without final newline: %q", rest)
	}
}

func TestHostPath(t *testing.T) {
	for in, want := range map[string]string{
		"/opt/it's": `'/opt/it'\''s'`,
		"~":         `"$HOME"`,
		"~/x y":     `"$HOME"/'x y'`,
	} {
		if got := hostPath(in); got != want {
			t.Errorf("hostPath(%q) = %s, want %s", in, got, want)
		}
	}
}

// A script cut short on its way to `sh -s` (a dropped connection, a killed
// writer) must run nothing: neither the wrapper's markers nor any part of
// the user's script. Every prefix of a detached run's script is fed to a
// real sh; only the whole one may leave a trace.
func TestTruncatedScriptRunsNothing(t *testing.T) {
	dir := t.TempDir()
	effects := dir + "/effects"
	spec := ExecSpec{Token: "r1-s01-cut-a1-h", Dir: dir,
		Script: "echo begin >> " + ShellQuote(effects) + "\necho end >> " + ShellQuote(effects) + "\nexit 3\n"}
	b, err := io.ReadAll(wholeOrNothing(detachedScript(spec, dir+"/runs", "0123456789abcdef", 1700000000, true, false)))
	if err != nil {
		t.Fatal(err)
	}
	script := string(b)
	run := func(input string) {
		t.Helper()
		cmd := exec.Command("/bin/sh", "-s")
		cmd.Dir = dir
		cmd.Stdin = strings.NewReader(input)
		_ = cmd.Run() // a syntax error at the cut is the expected outcome
	}
	// Every byte boundary would cost a second or more of shells; every
	// third one still lands in each line, quote and the here-document.
	for cut := 0; cut < len(script)-1; cut += 3 {
		run(script[:cut])
		if entries, _ := os.ReadDir(dir + "/runs"); len(entries) > 0 {
			t.Fatalf("cut at byte %d of %d: the wrapper left markers %v", cut, len(script), entries)
		}
		if _, err := os.Stat(effects); err == nil {
			t.Fatalf("cut at byte %d of %d: part of the user's script ran:\n%s", cut, len(script), script[:cut])
		}
	}
	run(script)
	if b, err := os.ReadFile(effects); err != nil || string(b) != "begin\nend\n" {
		t.Fatalf("the whole script: effects %q %v", b, err)
	}
	if rc, err := os.ReadFile(dir + "/runs/" + spec.Token + ".rc"); err != nil || strings.TrimSpace(string(rc)) != "3" {
		t.Errorf("the whole script: .rc %q %v, want 3", rc, err)
	}
}

// The first run of a connection sweeps old markers only when the marker
// directory was not swept within sweepEvery (its .swept stamp): a night
// connects to every host, and a sweep costs each a subshell and two
// finds. A directory the run makes is new and stamped, not swept.
func TestSweepOnceADay(t *testing.T) {
	dir := t.TempDir()
	runs := dir + "/runs"
	const now = 1700000000
	n := 0
	run := func(at int64) {
		t.Helper()
		n++
		spec := ExecSpec{Token: fmt.Sprintf("r1-s%02d-sweep-a1-h", n), Script: "true"}
		cmd := exec.Command("/bin/sh", "-s")
		cmd.Dir = dir
		cmd.Stdin = wholeOrNothing(detachedScript(spec, runs, "0123456789abcdef", at, true, false))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("the wrapper at %d: %v\n%s", at, err, out)
		}
	}
	stamp := func() string {
		b, _ := os.ReadFile(runs + "/.swept")
		return strings.TrimSpace(string(b))
	}
	old := time.Now().Add(-MarkerRetention - 48*time.Hour)
	plantOld := func() string {
		t.Helper()
		p := runs + "/r0-s01-old-a1-h.rc"
		if err := os.WriteFile(p, []byte("0\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sweptWithin := func(p string, d time.Duration) bool {
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if _, err := os.Stat(p); os.IsNotExist(err) {
				return true
			}
		}
		return false
	}

	run(now) // makes the directory: stamped, nothing to sweep
	if got := stamp(); got != fmt.Sprint(now) {
		t.Fatalf("a new marker directory is stamped %q, want %d", got, now)
	}
	p := plantOld()
	run(now + 3600)
	if sweptWithin(p, 500*time.Millisecond) {
		t.Fatal("swept again an hour after the last sweep")
	}
	if got := stamp(); got != fmt.Sprint(now) {
		t.Errorf("a run that did not sweep restamped: %q", got)
	}
	run(now + int64(sweepEvery/time.Second))
	if !sweptWithin(p, 10*time.Second) {
		t.Fatal("not swept a day after the last sweep")
	}
	if got := stamp(); got != fmt.Sprint(now+int64(sweepEvery/time.Second)) {
		t.Errorf("after the sweep the stamp is %q", got)
	}
	// A stamp from the future (a clock set back) or unreadable sweeps.
	for _, bad := range []string{fmt.Sprint(now + 10*int64(sweepEvery/time.Second)), "garbage"} {
		if err := os.WriteFile(runs+"/.swept", []byte(bad+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		p := plantOld()
		run(now + 2*int64(sweepEvery/time.Second))
		if !sweptWithin(p, 10*time.Second) {
			t.Errorf("stamp %q: not swept", bad)
		}
	}
}
