package runbook

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

var (
	yamlLineErr   = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	yamlAnchorErr = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)
)

// yamlError turns a YAML syntax error into a *FileError. The parser gives
// only a line ("yaml: line N: ..."), and for many errors it is the line,
// counted from 0, where the enclosing block starts rather than the line at
// fault; problemLine finds the latter. A column is added where the line
// itself shows the culprit.
func (l *loader) yamlError(err error) *FileError {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	fe := &FileError{File: l.file}
	if m := yamlLineErr.FindStringSubmatch(err.Error()); m != nil {
		fe.Line, _ = strconv.Atoi(m[1])
		msg = m[2]
		if line := l.problemLine(err.Error(), fe.Line); line > 0 {
			text := l.lines[line-1]
			fe.Line, fe.Col = line, len(text)-len(strings.TrimLeft(text, " "))+1
		}
	}
	if m := yamlAnchorErr.FindStringSubmatch(msg); m != nil {
		fe.Line, fe.Col = l.find("*" + m[1])
		fe.Msg = "invalid YAML: alias *" + m[1] + " names no anchor: define &" + m[1] + " before using it"
		return fe
	}
	if fe.Line > 0 && fe.Line <= len(l.lines) {
		if i := indentTab(l.lines[fe.Line-1]); i >= 0 {
			fe.Col = i + 1
			fe.Msg = "invalid YAML: " + msg + " (indent with spaces: YAML does not allow tabs)"
			return fe
		}
	}
	fe.Msg = "invalid YAML: " + msg + "; check the indentation and quoting"
	return fe
}

// indentTab returns the index of a tab in the indentation of line, or -1.
func indentTab(line string) int {
	body := strings.TrimLeft(line, " \t")
	indent := line[:len(line)-len(body)]
	if body == "" {
		return -1
	}
	return strings.IndexByte(indent, '\t')
}

// problemLine returns the number of the first line whose prefix of the
// file fails to parse with the very error the whole file fails with: the
// parser gets that far and no further, so that line is where the problem
// is. Prefixes from there on fail the same way and shorter ones do not,
// so a binary search finds it, starting at the reported line since the
// problem cannot come before the block that encloses it. 0 when no prefix
// reproduces the error.
func (l *loader) problemLine(want string, reported int) int {
	fails := func(n int) bool {
		prefix := strings.Join(l.lines[:n], "\n") + "\n"
		err := parseAll([]byte(prefix))
		return err != nil && err.Error() == want
	}
	lo, hi := max(1, min(reported, len(l.lines))), len(l.lines)
	if !fails(hi) {
		return 0
	}
	for lo < hi {
		mid := (lo + hi) / 2
		if fails(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return hi
}

// parseAll parses every document of data and returns the first error.
func parseAll(data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := decodeYAML(dec, &doc)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// find returns the first position of s in the file, or 0, 0.
func (l *loader) find(s string) (line, col int) {
	for i, text := range l.lines {
		if j := strings.Index(text, s); j >= 0 {
			return i + 1, j + 1
		}
	}
	return 0, 0
}
