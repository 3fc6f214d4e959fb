package report

import (
	"encoding/json"
	"io"
)

// JSON writes the report as indented JSON in the field order of Doc, which
// README-json.md documents for scripts. HTML escaping is off: the report
// is data, and "<" in an output line should stay readable.
func JSON(w io.Writer, d *Doc) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(d)
}
