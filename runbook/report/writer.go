package report

import (
	"fmt"
	"io"
)

// stickyWriter keeps the first write error, so the renderers read as a
// list of lines and still report a full disk or a closed pipe.
type stickyWriter struct {
	w   io.Writer
	err error
}

func (s *stickyWriter) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.w.Write(p)
	s.err = err
	return n, err
}

func (s *stickyWriter) printf(format string, a ...any) { fmt.Fprintf(s, format, a...) }

func (s *stickyWriter) println(a ...any) { fmt.Fprintln(s, a...) }
