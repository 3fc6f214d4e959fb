package runbook

import "fmt"

// Bytes formats a size as an operator reads it: "148.5 MiB", "512 B".
// Every line that shows a size (an upload's summary, the board, the
// preflight's room on a host) says it the same way.
func Bytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
