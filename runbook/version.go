package runbook

import (
	"fmt"
	"path"
	"strconv"
	"unicode/utf8"
)

// VersionRule is the pattern every version matches (SPEC §3.4), for messages.
const VersionRule = `^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$`

// maxVersion is the longest version VersionRule allows.
const maxVersion = 128

// VersionError says why a string is not a version. It is a usage error
// (exit 2): the version comes from the operator, or from a record that
// was written before versions were checked.
type VersionError struct {
	Version string // as given; print it with %q, it may hold anything
	Problem string // what is wrong, phrased to follow the version
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("version %s %s; a version is 1 to %d letters, digits and . _ + -, starting with a letter or digit (%s)",
		quoteVersion(e.Version), e.Problem, maxVersion, VersionRule)
}

// Unwrap makes a VersionError a usage error for errors.Is.
func (e *VersionError) Unwrap() error { return ErrUsage }

// CheckVersion checks that v is a version: it becomes a directory name
// (deploy_dir/releases/<v>), a word in commands, a line in reports and a
// key in the state database, so it must be safe as all of them — no
// path separator, no "..", no shell metacharacter, no control character,
// no leading "-" that a command would take for an option.
func CheckVersion(v string) error {
	bad := func(problem string) error { return &VersionError{Version: v, Problem: problem} }
	switch {
	case v == "":
		return bad("is empty")
	case !utf8.ValidString(v):
		return bad("is not valid UTF-8")
	case utf8.RuneCountInString(v) > maxVersion:
		return bad(fmt.Sprintf("is %d characters long, more than %d", utf8.RuneCountInString(v), maxVersion))
	case !isAlnum(v[0]):
		return bad(fmt.Sprintf("starts with %s", describeRune([]rune(v)[0])))
	}
	for _, r := range v {
		if r >= utf8.RuneSelf || !isAlnum(byte(r)) && r != '.' && r != '_' && r != '+' && r != '-' {
			return bad(fmt.Sprintf("holds %s", describeRune(r)))
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// ReleaseDir is deploy_dir/releases/<version>, the only place a release
// is staged. It refuses what is not a version, so the result is always a
// direct child of deployDir's releases directory, whatever version holds.
func ReleaseDir(deployDir, version string) (string, error) {
	if err := CheckVersion(version); err != nil {
		return "", err
	}
	return path.Join(deployDir, "releases", version), nil
}

// quoteVersion shows a rejected version safely: quoted with every control
// character escaped, and cut when it is long (it may be a whole file).
func quoteVersion(v string) string {
	const show = 60
	if utf8.RuneCountInString(v) <= show {
		return strconv.QuoteToGraphic(v)
	}
	return strconv.QuoteToGraphic(string([]rune(v)[:show])) + "…"
}

// describeRune names a character for a message, so that an invisible or
// control character is still readable there.
func describeRune(r rune) string {
	switch r {
	case ' ':
		return "a space"
	case '\n':
		return "a newline"
	case '\r':
		return "a carriage return"
	case '\t':
		return "a tab"
	case 0x1b:
		return "an escape character (ESC)"
	case utf8.RuneError:
		return "an invalid byte"
	case '/':
		return "'/' (a path separator)"
	}
	if r < 0x20 || r >= 0x7f && r <= 0x9f {
		return fmt.Sprintf("the control character U+%04X", r)
	}
	if !strconv.IsPrint(r) {
		return fmt.Sprintf("the invisible character U+%04X", r)
	}
	return strconv.QuoteRune(r)
}
