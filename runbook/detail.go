package runbook

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
)

// ActionDetail is what the built-in actions record with a host run (as JSON
// in HostRun.Detail) for rollback, status and the report.
type ActionDetail struct {
	SHA256   string   `json:"sha256,omitempty"`   // upload: checksum verified on the host
	Skipped  bool     `json:"skipped,omitempty"`  // upload: already staged with that checksum
	Resumed  int64    `json:"resumed,omitempty"`  // upload: bytes of a verified partial file kept
	Bytes    int64    `json:"bytes,omitempty"`    // upload: bytes sent
	Version  string   `json:"version,omitempty"`  // activate: now live
	Previous string   `json:"previous,omitempty"` // activate: live before ("" for none)
	Removed  []string `json:"removed,omitempty"`  // activate: releases removed by keep
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

// HashFile returns the hex SHA-256 of a file, streamed.
func HashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
