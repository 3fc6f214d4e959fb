package report

import "testing"

func TestReadable(t *testing.T) {
	cases := []struct{ in, want string }{
		{"plain\nlines", "plain\nlines"},
		{"\x1b[1;32m[INFO]\x1b[0m BUILD SUCCESS", "[INFO] BUILD SUCCESS"},
		{"progress 10%\rprogress 50%\rprogress 100%\ndone", "progress 100%\ndone"},
		{"windows line\r\nnext", "windows line\nnext"},
		{"bell\a and nul\x00 gone\ttab kept", "bell and nul gone\ttab kept"},
	}
	for _, c := range cases {
		if got := readable(c.in); got != c.want {
			t.Errorf("readable(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestLastLines(t *testing.T) {
	if got := lastLines("a\nb\nc\nd\n", 2); got != "c\nd" {
		t.Errorf("lastLines = %q", got)
	}
	if got := lastLines("\n\n", 3); got != "" {
		t.Errorf("lastLines of blank output = %q", got)
	}
}

func TestDuration(t *testing.T) {
	cases := map[int64]string{0: "0ms", 999: "999ms", 1500: "1.5s", 61000: "1m01s", 3_723_000: "1h02m"}
	for ms, want := range cases {
		if got := duration(ms); got != want {
			t.Errorf("duration(%d) = %q, want %q", ms, got, want)
		}
	}
}

func TestMarkdownEscaping(t *testing.T) {
	if got := mdEscape("a|b *c* <x>\nnext"); got != `a\|b \*c\* \<x\> next` {
		t.Errorf("mdEscape = %q", got)
	}
	if got := mdCode("java -version 2>&1 | head"); got != "`java -version 2>&1 \\| head`" {
		t.Errorf("mdCode = %q", got)
	}
	if got := mdInlineCode("a `b` c"); got != "``a `b` c``" {
		t.Errorf("mdInlineCode = %q", got)
	}
}
