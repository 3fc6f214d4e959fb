package report

import (
	"reflect"

	"github.com/runbook-dev/runbook/runbook"
)

// multiLine are the fields the human formats show as blocks of lines, made
// readable (a line a progress meter redrew keeps its last version); every
// other string is shown on one line.
var multiLine = map[string]bool{"OutputTail": true, "Unified": true, "Value": true}

// safeDoc returns a copy of d in which every string the text and Markdown
// formats print is terminal-safe (runbook.TermSafe): a version, a name, a
// reason or a host's value recorded with an escape sequence, a carriage
// return or a line break cannot rewrite what the reader sees, nor add a row
// to a table (L-7, L-8). It walks every exported field, so a field added
// later is covered without a line here. d itself is not changed: JSON keeps
// the record as it is, and HTML escapes it.
func safeDoc(d *Doc) *Doc {
	src := reflect.ValueOf(d).Elem()
	dst := reflect.New(src.Type()).Elem()
	safeCopy(dst, src, "")
	return dst.Addr().Interface().(*Doc)
}

// safeCopy sets dst, settable and of src's type, to a copy of src whose
// strings are made safe; field is the name of the struct field src is.
func safeCopy(dst, src reflect.Value, field string) {
	switch src.Kind() {
	case reflect.String:
		s := src.String()
		switch {
		case multiLine[field]:
			s = readable(s)
		default:
			s = runbook.TermSafeLine(s)
		}
		dst.SetString(s)
	case reflect.Struct:
		dst.Set(src) // unexported fields (times, sums) as they are
		safeFields(dst, src)
	case reflect.Pointer:
		if src.IsNil() {
			dst.SetZero()
			return
		}
		p := reflect.New(src.Type().Elem())
		safeCopy(p.Elem(), src.Elem(), field)
		dst.Set(p)
	case reflect.Slice:
		if src.IsNil() {
			dst.SetZero()
			return
		}
		s := reflect.MakeSlice(src.Type(), src.Len(), src.Len())
		for i := range src.Len() {
			safeCopy(s.Index(i), src.Index(i), field)
		}
		dst.Set(s)
	case reflect.Map:
		if src.IsNil() {
			dst.SetZero()
			return
		}
		m := reflect.MakeMapWithSize(src.Type(), src.Len())
		for it := src.MapRange(); it.Next(); {
			k := reflect.New(src.Type().Key()).Elem()
			safeCopy(k, it.Key(), field)
			v := reflect.New(src.Type().Elem()).Elem()
			safeCopy(v, it.Value(), field)
			m.SetMapIndex(k, v)
		}
		dst.Set(m)
	default:
		dst.Set(src)
	}
}

// safeFields makes the exported fields of the struct dst, a copy of src,
// safe. An embedded struct of an unexported type (stepFields) cannot be set
// whole, but its exported fields can, and they are what the formats print.
func safeFields(dst, src reflect.Value) {
	t := src.Type()
	for i := range t.NumField() {
		f := dst.Field(i)
		switch {
		case f.CanSet():
			safeCopy(f, src.Field(i), t.Field(i).Name)
		case t.Field(i).Anonymous && f.Kind() == reflect.Struct:
			safeFields(f, src.Field(i))
		}
	}
}
