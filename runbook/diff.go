package runbook

import (
	"context"
	"io"
)

// FactVariant is one distinct value of a fact and the hosts that have it.
type FactVariant struct {
	Hosts []string `json:"hosts"` // "env/host"
	// Value is the normalised content (ignored lines dropped, whitespace
	// trimmed); Error is set instead when the file is missing or the
	// command failed, which counts as a difference, not a crash.
	Value string `json:"value,omitempty"`
	Error string `json:"error,omitempty"`
}

// FactDiff is one consistency fact across the hosts of two environments.
type FactDiff struct {
	Kind     string        `json:"kind"` // "file" or "command"
	Fact     string        `json:"fact"` // the template as written: identifies the fact
	Agree    bool          `json:"agree"`
	Variants []FactVariant `json:"variants"`
	// Unified is a unified diff between the first two variants when they differ.
	Unified string `json:"unified,omitempty"`
}

// DiffReport compares two environments.
type DiffReport struct {
	EnvA    string     `json:"env_a"`
	EnvB    string     `json:"env_b"`
	Facts   []FactDiff `json:"facts"`
	Differs bool       `json:"differs"`
}

// Differ collects and compares consistency facts. Package steps implements
// it; the engine calls it for diff steps and the cli for `runbook diff`.
type Differ interface {
	// Diff collects every consistency fact from every host of envA and envB
	// (files read over SFTP or locally, commands run) and compares them.
	// out, when not nil, receives progress lines. An error means the facts
	// could not be collected at all (a host unreachable); a fact that is
	// missing or failing on a host is a difference inside the report.
	// It changes nothing on any host.
	Diff(ctx context.Context, envA, envB string, out io.Writer) (*DiffReport, error)
}
