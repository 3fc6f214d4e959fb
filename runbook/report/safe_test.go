package report

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// fill sets every exported string of v, at any depth, to s (multi-line
// fields to ms), and gives every slice, map and pointer one element, so
// every field of a Doc is there to be printed.
func fill(v reflect.Value, field, s, ms string) {
	switch v.Kind() {
	case reflect.String:
		if multiLine[field] {
			v.SetString(ms)
		} else {
			v.SetString(s)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			if f := v.Field(i); f.CanSet() || t.Field(i).Anonymous {
				fill(f, t.Field(i).Name, s, ms)
			}
		}
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), field, s, ms)
		v.Set(p)
	case reflect.Slice:
		sl := reflect.MakeSlice(v.Type(), 1, 1)
		fill(sl.Index(0), field, s, ms)
		v.Set(sl)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k := reflect.New(v.Type().Key()).Elem()
		e := reflect.New(v.Type().Elem()).Elem()
		fill(k, field, s, ms)
		fill(e, field, s, ms)
		m.SetMapIndex(k, e)
		v.Set(m)
	}
}

func docOf(s, ms string) *Doc {
	d := &Doc{}
	fill(reflect.ValueOf(d).Elem(), "", s, ms)
	return d
}

// The forgeries of the security review (L-7, L-8) in every field: a
// sign-off name that adds a table row, ESC [2K and a carriage return that
// rewrite a name, an OSC 52 clipboard write, C1 controls. Text and
// Markdown must show each on its own line and act on nothing.
const forged = "Li Na\n| forged | DBA | Mallory |\r\x1b[2KDBA signed by CEO\x1b]52;c;ZXZpbA==\x07\u009b2J\u0085\t\x08x"

func TestReportsNeutraliseEveryField(t *testing.T) {
	for _, f := range []struct {
		name   string
		render func(*bytes.Buffer, *Doc) error
	}{
		{"text", func(b *bytes.Buffer, d *Doc) error { return Text(b, d) }},
		{"md", func(b *bytes.Buffer, d *Doc) error { return Markdown(b, d) }},
	} {
		var plain, hostile bytes.Buffer
		if err := f.render(&plain, docOf("plain", "plain")); err != nil {
			t.Fatal(err)
		}
		d := docOf(forged, "tail line\r\x1b]52;c;ZXZpbA==\x07\x1b[1Ashown")
		if err := f.render(&hostile, d); err != nil {
			t.Fatal(err)
		}
		out := hostile.String()
		if !utf8.ValidString(out) {
			t.Errorf("%s: not UTF-8", f.name)
		}
		for _, r := range out {
			if r < 0x20 && r != '\n' && r != '\t' || r >= 0x7f && r <= 0x9f {
				t.Fatalf("%s report holds U+%04X:\n%q", f.name, r, out)
			}
		}
		// No field added a line: the forged row stays inside its cell.
		if got, want := strings.Count(out, "\n"), strings.Count(plain.String(), "\n"); got != want {
			t.Errorf("%s: %d lines with forged fields, %d with plain ones:\n%s", f.name, got, want, out)
		}
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), "| forged") {
				t.Errorf("%s: a forged row: %q", f.name, l)
			}
		}
		if !strings.Contains(out, "Li Na") || !strings.Contains(out, "DBA signed by CEO") {
			t.Errorf("%s: the text around the controls is gone:\n%s", f.name, out)
		}
		// The Doc given is not changed: JSON keeps the record as it is.
		if d.Steps[0].Name != forged {
			t.Errorf("%s: the report changed the Doc it was given", f.name)
		}
	}
}
