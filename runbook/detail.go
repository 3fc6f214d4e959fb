package runbook

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// ActionDetail is what a host run records beyond its state and exit code
// (as JSON in HostRun.Detail) for rollback, status and the report: what a
// built-in action did, and which verify failed it.
type ActionDetail struct {
	SHA256   string   `json:"sha256,omitempty"`   // upload: checksum verified on the host
	Skipped  bool     `json:"skipped,omitempty"`  // upload: already staged with that checksum
	Resumed  int64    `json:"resumed,omitempty"`  // upload: bytes of a verified partial file kept
	Bytes    int64    `json:"bytes,omitempty"`    // upload: bytes sent
	Version  string   `json:"version,omitempty"`  // activate: now live
	Previous string   `json:"previous,omitempty"` // activate: live before ("" for none)
	Removed  []string `json:"removed,omitempty"`  // activate: releases removed by keep
	// FailedVerify: the action succeeded and its verify did not pass.
	FailedVerify *FailedVerify `json:"failed_verify,omitempty"`
}

// FailedVerify says which verify failed a host run whose action
// succeeded (its exit code is then 0), and how.
type FailedVerify struct {
	Command  string `json:"command"`   // as it ran, secrets masked
	ExitCode int    `json:"exit_code"` // of its last attempt; -1 when it did not run to an end
	Attempts int    `json:"attempts"`
}

// String says it in one line, "verify failed after N attempt(s) (exit
// C): CMD", the command cut to its first line.
func (f *FailedVerify) String() string {
	cmd, more := strings.TrimSpace(f.Command), false
	if i := strings.IndexByte(cmd, '\n'); i >= 0 {
		cmd, more = cmd[:i], true
	}
	if r := []rune(cmd); len(r) > 72 {
		cmd, more = string(r[:72]), true
	}
	if more {
		cmd += "…"
	}
	code := fmt.Sprintf("exit %d", f.ExitCode)
	if f.ExitCode < 0 {
		code = "did not run to an end"
	}
	return fmt.Sprintf("verify failed after %d attempt(s) (%s): %s", f.Attempts, code, cmd)
}

// WithFailedVerify returns detail with f as its failed verify (nil: none).
func WithFailedVerify(detail string, f *FailedVerify) string {
	d := ParseDetail(detail)
	if d.FailedVerify == nil && f == nil {
		return detail
	}
	d.FailedVerify = f
	if s := d.JSON(); s != "{}" {
		return s
	}
	return ""
}

// ParseDetail decodes a host run's detail; an empty or foreign detail is zero.
func ParseDetail(s string) ActionDetail {
	var d ActionDetail
	if s != "" {
		_ = json.Unmarshal([]byte(s), &d)
	}
	return d
}

// JSON encodes the detail for Outcome.Detail.
func (d ActionDetail) JSON() string {
	b, _ := json.Marshal(d)
	return string(b)
}

// HashFile returns the hex SHA-256 of a file, streamed, and how many
// bytes it read: the size the sum is the checksum of.
func HashFile(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
