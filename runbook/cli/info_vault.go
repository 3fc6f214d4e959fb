package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/secrets"
)

// vaultInfo is what the handbook says about the credentials.
type vaultInfo struct {
	path   string
	state  string   // vaultMissing, vaultLocked or vaultOpen
	names  []string // in the vault, when open
	needed []string // referred to by the runbook
	values map[string]string
}

const (
	vaultMissing = "missing"
	vaultLocked  = "locked"
	vaultOpen    = "open"
)

// vaultInfo lists the vault's secret names. The names are encrypted with
// the values, so the vault is opened when its key comes without asking
// (identity, pass file, passphrase variable) or, with --reveal, after the
// passphrase prompt; otherwise the handbook lists the names the runbook
// refers to and says the vault is locked.
func (g *globals) vaultInfo(rb *runbook.Runbook, reveal bool) (vaultInfo, error) {
	vi := vaultInfo{path: g.vaultPath(rb), needed: rb.SecretNames()}
	if _, err := os.Stat(vi.path); errors.Is(err, fs.ErrNotExist) {
		if reveal {
			return vi, runbook.WithHint(fmt.Errorf("%w: --reveal: there is no vault at %s", secrets.ErrNoVault, vi.path), "`runbook vault init` creates one")
		}
		vi.state = vaultMissing
		return vi, nil
	}
	if !reveal && !g.keyWithoutAsking() {
		vi.state = vaultLocked
		return vi, nil
	}
	v, err := g.openVault(rb)
	if err != nil {
		return vi, err
	}
	vi.state, vi.names = vaultOpen, v.Names()
	if reveal {
		vi.values = map[string]string{}
		for _, n := range vi.names {
			if vi.values[n], err = v.Get(n); err != nil {
				return vi, err
			}
		}
	}
	return vi, nil
}

// keyWithoutAsking reports whether the vault's key is given by a flag or
// the environment, so opening the vault needs no prompt.
func (g *globals) keyWithoutAsking() bool {
	for _, v := range []string{g.identity, g.passFile, g.getenv("RUNBOOK_IDENTITY"), g.getenv(secrets.EnvPassFile), g.getenv(secrets.EnvPassphrase)} {
		if v != "" {
			return true
		}
	}
	return false
}

func (vi vaultInfo) write(d handbookDoc) {
	d.section("Secrets")
	d.field("vault", vi.path)
	switch vi.state {
	case vaultMissing:
		d.field("", "no vault: `runbook vault init` creates one")
	case vaultLocked:
		d.field("", "locked: its names are encrypted with the values; --reveal asks for the passphrase, RUNBOOK_VAULT_PASS_FILE opens it without asking")
	}
	names := slices.Clone(vi.names)
	for _, n := range vi.needed {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	if len(names) == 0 {
		d.field("", "no secrets")
		return
	}
	head := []string{"secret", "status"}
	if vi.values != nil {
		head = append(head, "value")
	}
	rows := make([][]string, 0, len(names))
	for _, n := range names {
		used := slices.Contains(vi.needed, n)
		held := slices.Contains(vi.names, n)
		status := "needed by the runbook"
		switch {
		case vi.state != vaultOpen:
		case used && held:
			status = "in the vault, used"
		case held:
			status = "in the vault, not used by the runbook"
		default:
			status = "MISSING from the vault: `runbook vault set " + n + "`"
		}
		row := []string{n, status}
		if vi.values != nil {
			row = append(row, vi.values[n])
		}
		rows = append(rows, row)
	}
	d.table(head, rows)
}
