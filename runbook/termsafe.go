package runbook

import (
	"errors"
	"io"
	"strings"
	"unicode/utf8"
)

// TermSafeWriter passes a host's output on as text that cannot act on the
// terminal that shows it, or on whoever later reads a log or a report:
//
//   - Printable text, valid UTF-8 included, goes through unchanged, and
//     so do tab and newline.
//   - Escape sequences are dropped whole, parameters and payload included:
//     CSI (cursor movement, erasing, colours — SGR can hide text as well
//     as colour it), OSC (window titles, hyperlinks, OSC 52 clipboard
//     writes), DCS, SOS, PM, APC, and the two- and three-byte ESC
//     sequences (character sets, reset, cursor save and restore). A
//     sequence split across writes is recognised all the same.
//   - C1 controls (U+0080–U+009F) are dropped, and those that open a
//     sequence (CSI U+009B, OSC U+009D, DCS U+0090, ...) drop it too.
//   - Other C0 controls (NUL, BEL, backspace, ...) and DEL are dropped.
//   - A carriage return becomes a newline, and CR LF one newline: a
//     progress meter that redraws its line shows each update as a line
//     of its own, and nothing can return to the start of a line to
//     overwrite the host prefix or text already shown.
//   - Bytes that are not UTF-8 each become U+FFFD.
//
// A sequence that is not ended within 4 KiB, or that a newline or carriage
// return interrupts, ends there, so a stray ESC in binary output cannot
// swallow the lines after it.
//
// The writer holds back only an incomplete UTF-8 character at the end of a
// write; Close writes it out (as U+FFFD) and closes the underlying writer
// when it is an io.Closer. Put it before the masker, never after: a secret
// interleaved with escape sequences is whole again only once they are gone.
// It is not safe for concurrent use.
type TermSafeWriter struct {
	w      io.Writer
	state  tsState
	seq    int     // bytes of the sequence being dropped
	cr     bool    // a carriage return was just written out as a newline
	c2     bool    // in a string sequence, the last byte was 0xC2 (U+009C ST is C2 9C)
	part   [4]byte // an incomplete UTF-8 character
	nPart  int
	out    []byte
	err    error
	closed bool
}

type tsState uint8

const (
	tsGround    tsState = iota
	tsEsc               // after ESC
	tsEscInter          // ESC and intermediate bytes (ESC ( B)
	tsCSI               // control sequence: parameters until a final byte
	tsString            // OSC, DCS, SOS, PM, APC: until BEL or ST
	tsStringEsc         // ESC inside a string: ESC \ is ST
)

// maxSequence bounds a sequence being dropped.
const maxSequence = 4096

const (
	esc = 0x1b
	can = 0x18
	sub = 0x1a
	bel = 0x07
)

// NewTermSafeWriter returns a TermSafeWriter writing to w.
func NewTermSafeWriter(w io.Writer) *TermSafeWriter { return &TermSafeWriter{w: w} }

var errTermSafeClosed = errors.New("write to a closed terminal-safe writer")

// Write neutralises p and writes the result to w in one call. It reports
// len(p) on success; after an error from w, every call returns it.
func (t *TermSafeWriter) Write(p []byte) (int, error) {
	if t.err != nil {
		return 0, t.err
	}
	if t.closed {
		return 0, errTermSafeClosed
	}
	for _, b := range p {
		t.byte(b)
	}
	if err := t.flush(); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close writes out an incomplete character as U+FFFD, drops an unfinished
// sequence, and closes w when it is an io.Closer. Closing twice is harmless.
func (t *TermSafeWriter) Close() error {
	if t.closed {
		return t.err
	}
	t.closed = true
	if t.nPart > 0 {
		t.nPart = 0
		t.emitRune(utf8.RuneError)
	}
	err := t.flush()
	if c, ok := t.w.(io.Closer); ok {
		if cerr := c.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

func (t *TermSafeWriter) flush() error {
	if t.err != nil {
		return t.err
	}
	if len(t.out) == 0 {
		return nil
	}
	_, err := t.w.Write(t.out)
	t.out = t.out[:0]
	if err != nil {
		t.err = err
	}
	return err
}

func (t *TermSafeWriter) emit(b ...byte) {
	t.out = append(t.out, b...)
	t.cr = false
}

func (t *TermSafeWriter) emitRune(r rune) {
	t.out = utf8.AppendRune(t.out, r)
	t.cr = false
}

// enter starts dropping a sequence.
func (t *TermSafeWriter) enter(s tsState) {
	t.state, t.seq, t.c2 = s, 0, false
}

// byte feeds one byte through the state machine.
func (t *TermSafeWriter) byte(b byte) {
	if t.state != tsGround {
		t.seq++
		if t.seq > maxSequence {
			t.state = tsGround
		} else if t.sequence(b) {
			return
		}
	}
	t.ground(b)
}

// sequence handles b inside a sequence being dropped. It returns false
// when the sequence is over and b belongs to the text after it.
func (t *TermSafeWriter) sequence(b byte) bool {
	switch {
	case b == '\n' || b == '\r':
		// No real sequence spans lines: end it and keep the line break.
		t.state = tsGround
		return false
	case b == can || b == sub:
		t.state = tsGround // cancels the sequence, and is itself dropped
		return true
	}
	switch t.state {
	case tsEsc:
		switch {
		case b == '[':
			t.enter(tsCSI)
		case b == ']' || b == 'P' || b == 'X' || b == '^' || b == '_':
			t.enter(tsString)
		case b >= 0x20 && b <= 0x2f:
			t.state = tsEscInter
		case b >= 0x30 && b <= 0x7e:
			t.state = tsGround
		case b == esc:
			t.enter(tsEsc)
		case b >= 0x80:
			t.state = tsGround
			return false
		}
	case tsEscInter:
		switch {
		case b >= 0x30 && b <= 0x7e:
			t.state = tsGround
		case b == esc:
			t.enter(tsEsc)
		case b >= 0x80:
			t.state = tsGround
			return false
		}
	case tsCSI:
		switch {
		case b >= 0x40 && b <= 0x7e:
			t.state = tsGround
		case b == esc:
			t.enter(tsEsc)
		case b >= 0x80:
			t.state = tsGround
			return false
		}
	case tsString:
		switch {
		case b == bel:
			t.state = tsGround
		case b == esc:
			t.state = tsStringEsc
		case t.c2 && b == 0x9c: // U+009C, ST
			t.state = tsGround
		}
		t.c2 = b == 0xc2
	case tsStringEsc:
		if b == '\\' {
			t.state = tsGround
			return true
		}
		// ESC and anything else: the string ends and a new sequence begins.
		t.enter(tsEsc)
		return t.sequence(b)
	}
	return true
}

// ground handles b in text.
func (t *TermSafeWriter) ground(b byte) {
	if t.nPart > 0 {
		if b&0xc0 == 0x80 {
			t.part[t.nPart] = b
			t.nPart++
			if utf8.FullRune(t.part[:t.nPart]) {
				r, size := utf8.DecodeRune(t.part[:t.nPart])
				n := t.nPart
				t.nPart = 0
				if r == utf8.RuneError || size != n {
					t.emitRune(utf8.RuneError)
					return
				}
				t.char(r, n)
			}
			return
		}
		// Cut short: what came so far is not a character.
		t.nPart = 0
		t.emitRune(utf8.RuneError)
	}
	switch {
	case b >= 0x20 && b < 0x7f, b == '\t':
		t.emit(b)
	case b == '\n':
		if !t.cr {
			t.emit('\n')
		}
		t.cr = false
	case b == '\r':
		t.emit('\n')
		t.cr = true
	case b == esc:
		t.enter(tsEsc)
	case b < 0x80:
		// Other C0 controls and DEL.
	case b >= 0xc2 && b <= 0xf4:
		t.part[0], t.nPart = b, 1
	default:
		t.emitRune(utf8.RuneError)
	}
}

// char handles a whole multi-byte character of n bytes, already decoded,
// whose bytes are t.part[:n].
func (t *TermSafeWriter) char(r rune, n int) {
	if r > 0x9f {
		t.emit(t.part[:n]...)
		return
	}
	// A C1 control.
	switch r {
	case 0x9b:
		t.enter(tsCSI)
	case 0x9d, 0x90, 0x98, 0x9e, 0x9f:
		t.enter(tsString)
	}
}

// TermSafe is s as a TermSafeWriter passes it on, for text read whole
// (recorded output, a message): newlines and tabs stay.
func TermSafe(s string) string {
	if termSafeAlready(s) {
		return s
	}
	var b strings.Builder
	t := NewTermSafeWriter(&b)
	_, _ = t.Write([]byte(s))
	_ = t.Close()
	return b.String()
}

// TermSafeLine is TermSafe for a field shown on one line (a name, a
// version, a reason): line breaks and tabs become spaces as well.
func TermSafeLine(s string) string {
	s = TermSafe(s)
	if strings.ContainsAny(s, "\n\t") {
		s = strings.NewReplacer("\n", " ", "\t", " ").Replace(s)
	}
	return s
}

// termSafeAlready reports whether TermSafe would return s unchanged
// without running the writer: the common case of plain text.
func termSafeAlready(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c < 0x7f || c == '\n' || c == '\t' {
			continue
		}
		if c < 0x80 {
			return false
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || r <= 0x9f {
			return false
		}
		i += size - 1
	}
	return true
}
