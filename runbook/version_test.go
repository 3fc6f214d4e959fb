package runbook

import (
	"errors"
	"os/exec"
	"path"
	"regexp"
	"strings"
	"testing"
)

// versionPattern is the SPEC's rule as a regular expression: the fuzz
// target holds CheckVersion, written by hand, against it.
var versionPattern = regexp.MustCompile(VersionRule)

// hostileVersions are the versions of the security review (H-1) and their
// relatives: each must be refused, with a message that names the problem.
var hostileVersions = []struct{ v, problem string }{
	{"", "is empty"},
	{"$(touch PWNED)", "starts with '$'"},
	{"1.0\ntouch PWNED", "holds a newline"},
	{"1.0;id>x", "holds ';'"},
	{"1.0 && id", "holds a space"},
	{"`id`", "starts with '`'"},
	{"1.0|sh", "holds '|'"},
	{"../../../../victim", "starts with '.'"},
	{"1.0/../../x", "holds '/' (a path separator)"},
	{"..", "starts with '.'"},
	{".hidden", "starts with '.'"},
	{"-rf", "starts with '-'"},
	{"+x", "starts with '+'"},
	{"_x", "starts with '_'"},
	{"1.0\x1b[2K", "holds an escape character (ESC)"},
	{"1.0\r", "holds a carriage return"},
	{"1.0\t", "holds a tab"},
	{"1.0\x00", "holds the control character U+0000"},
	{"1.0\u0085", "holds the control character U+0085"},
	{"1.0\u202e", "holds the invisible character U+202E"},
	{"2.4.0’", "holds '’'"},
	{"２.4", "starts with '２'"},
	{"1.0\xff", "is not valid UTF-8"},
	{"1.0*", "holds '*'"},
	{"1.0~", "holds '~'"},
	{"1.0'", `holds '\''`},
	{`1.0"`, `holds '"'`},
	{strings.Repeat("9", 129), "is 129 characters long, more than 128"},
}

func TestCheckVersionRefusesHostileVersions(t *testing.T) {
	for _, tc := range hostileVersions {
		err := CheckVersion(tc.v)
		var ve *VersionError
		if !errors.As(err, &ve) || !errors.Is(err, ErrUsage) {
			t.Errorf("CheckVersion(%q) = %v, want a VersionError that is a usage error", tc.v, err)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tc.problem) || !strings.Contains(msg, VersionRule) {
			t.Errorf("CheckVersion(%q):\n%s\nwant it to say %q and show the rule", tc.v, msg, tc.problem)
		}
		if strings.ContainsAny(msg, "\n\r\x1b\x00") {
			t.Errorf("CheckVersion(%q): the message carries a control character: %q", tc.v, msg)
		}
	}
}

func TestCheckVersionAcceptsVersions(t *testing.T) {
	for _, v := range []string{"1", "1.0", "2.4.0", "2.4.0-rc1", "2024.12.01+b7", "v2_4", "1..2", "A", strings.Repeat("9", 128)} {
		if err := CheckVersion(v); err != nil {
			t.Errorf("CheckVersion(%q) = %v", v, err)
		}
	}
}

func TestReleaseDirStaysInReleases(t *testing.T) {
	for _, tc := range []struct{ dir, v, want string }{
		{"/opt/billing", "2.4.0", "/opt/billing/releases/2.4.0"},
		{"hosts/pre1/opt/billing/", "1.0", "hosts/pre1/opt/billing/releases/1.0"},
		{"/opt/a/../billing", "1.0", "/opt/billing/releases/1.0"},
	} {
		got, err := ReleaseDir(tc.dir, tc.v)
		if err != nil || got != tc.want {
			t.Errorf("ReleaseDir(%q, %q) = %q, %v; want %q", tc.dir, tc.v, got, err, tc.want)
		}
	}
	for _, tc := range hostileVersions {
		if got, err := ReleaseDir("/opt/billing", tc.v); err == nil {
			t.Errorf("ReleaseDir(/opt/billing, %q) = %q, want an error", tc.v, got)
		}
	}
}

// FuzzCheckVersion: whatever CheckVersion accepts matches VersionRule and
// is safe as a path element, a shell word and a line; whatever it refuses
// gets a one-line message showing the rule. The seed corpus is
// testdata/fuzz/FuzzCheckVersion and the hostile versions above.
func FuzzCheckVersion(f *testing.F) {
	for _, tc := range hostileVersions {
		f.Add(tc.v)
	}
	f.Add("2.4.0-rc1+b7")
	f.Fuzz(func(t *testing.T, v string) {
		err := CheckVersion(v)
		if err != nil {
			if msg := err.Error(); !strings.Contains(msg, VersionRule) || strings.ContainsAny(msg, "\n\r\x1b") {
				t.Fatalf("CheckVersion(%q): message %q", v, msg)
			}
			return
		}
		if !versionPattern.MatchString(v) {
			t.Fatalf("CheckVersion accepted %q, which does not match %s", v, VersionRule)
		}
		if v == "." || v == ".." || strings.ContainsAny(v, "/\\ \t\n\r$`'\";&|<>(){}[]*?!#~=%^,:@") || v[0] == '-' {
			t.Fatalf("CheckVersion accepted %q, unsafe as a path element or a shell word", v)
		}
	})
}

// FuzzReleaseDir: for any deploy_dir and version, a release directory
// ReleaseDir returns is a direct child of deploy_dir/releases named by the
// version, so staging can never write, and undo never remove, anything
// outside it. The seed corpus is testdata/fuzz/FuzzReleaseDir.
func FuzzReleaseDir(f *testing.F) {
	f.Add("/opt/billing", "2.4.0")
	f.Add("hosts/pre1/opt/billing", "../../../../victim")
	f.Add("/", "..")
	f.Add("", "1.0")
	f.Add("a/../../b", "1.0/../../x")
	f.Fuzz(func(t *testing.T, dir, v string) {
		got, err := ReleaseDir(dir, v)
		if err != nil {
			if CheckVersion(v) == nil {
				t.Fatalf("ReleaseDir(%q, %q) refused a version: %v", dir, v, err)
			}
			return
		}
		if path.Base(got) != v || path.Dir(got) != path.Join(dir, "releases") {
			t.Fatalf("ReleaseDir(%q, %q) = %q: not deploy_dir/releases/<version>", dir, v, got)
		}
	})
}

// TestShellQuoteThroughARealShell sends values that break naive quoting
// through sh exactly as a step does (the script on stdin), and checks that
// the command gets each one byte for byte.
func TestShellQuoteThroughARealShell(t *testing.T) {
	values := []string{"", "plain", "it's", "'", "''", `a\'b`, `"$(touch PWNED)"`, "`id`", "$HOME", "a b\tc",
		"line1\nline2; id", "-rf", "*", "~", "!event", "#comment", "\x1b]52;c;ZXZpbA==\x07", "李娜", "\xff\xfe", strings.Repeat("'x", 500)}
	for _, v := range values {
		q, err := ShellQuote(v)
		if err != nil {
			t.Fatalf("ShellQuote(%q): %v", v, err)
		}
		if got := shellPrintf(t, q); got != v {
			t.Errorf("sh got %q for %q (quoted %s)", got, v, q)
		}
	}
	if _, err := ShellQuote("a\x00b"); err == nil || !strings.Contains(err.Error(), "NUL") {
		t.Errorf("ShellQuote with NUL: %v, want a refusal", err)
	}
	if q, _ := ShellQuote(int64(7)); q != "'7'" {
		t.Errorf("ShellQuote(7) = %s", q)
	}
}

// shellPrintf runs `printf %s WORD` through sh -s and returns its output.
func shellPrintf(t testing.TB, word string) string {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-s")
	cmd.Stdin = strings.NewReader("printf %s " + word + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sh: %v (word %q)", err, word)
	}
	return string(out)
}

// FuzzShellQuote: q hands any value without NUL to a real shell intact.
// The seed corpus is testdata/fuzz/FuzzShellQuote.
func FuzzShellQuote(f *testing.F) {
	f.Add("it's $(id) `id` \"x\"\n; rm -rf /")
	f.Add("")
	f.Fuzz(func(t *testing.T, v string) {
		q, err := ShellQuote(v)
		if strings.IndexByte(v, 0) >= 0 {
			if err == nil {
				t.Fatalf("ShellQuote(%q) accepted a NUL", v)
			}
			return
		}
		if got := shellPrintf(t, q); got != v {
			t.Fatalf("sh got %q for %q (quoted %s)", got, v, q)
		}
	})
}

func TestRenderRefusesABadVersion(t *testing.T) {
	for _, tc := range []struct {
		what string
		data func(*TemplateData)
	}{
		{"version", func(d *TemplateData) { d.Version = "1.0;id" }},
		{"previous", func(d *TemplateData) { d.Release.Previous = `x"; id > PWNED; echo "` }},
	} {
		d := sampleData()
		tc.data(&d)
		out, err := Render("echo {{ .Version }} {{ .Release.Previous }}", d, nil)
		if !errors.Is(err, ErrUsage) {
			t.Errorf("%s: Render = %q, %v; want a version error", tc.what, out, err)
		}
	}
}

func TestTemplateQ(t *testing.T) {
	d := sampleData()
	d.Host.DeployDir = "/opt/it's here"
	got, err := Render(`cd {{ .Host.DeployDir | q }} && echo {{ q .Version }} {{ q .Release.ID }} {{ secret "x" | q }}`, d,
		func(string) (string, error) { return "pa'ss", nil })
	if err != nil {
		t.Fatal(err)
	}
	if want := `cd '/opt/it'\''s here' && echo '2.4.0' '7' 'pa'\''ss'`; got != want {
		t.Errorf("Render with q = %s, want %s", got, want)
	}
	if got := RenderForDisplay(`x {{ secret "db/password" | q }}`, d); got != `x '****'` {
		t.Errorf("RenderForDisplay with q = %s", got)
	}
}
