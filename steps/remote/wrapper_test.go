package remote

import (
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
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
	b, err := io.ReadAll(wholeOrNothing(detachedScript(spec, dir+"/runs", "0123456789abcdef", 1700000000, true)))
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
