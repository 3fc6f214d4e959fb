package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/state"
	"github.com/runbook-dev/runbook/steps/remote/sshdtest"
)

// fleet is a few real sshd hosts on 127.0.0.1 that accept one client key,
// with a known_hosts file that trusts all of them.
type fleet struct {
	hosts      map[string]*sshdtest.Host
	knownHosts string
	key        string
	user       string
}

// newFleet starts one sshd per name.
func newFleet(t *testing.T, names ...string) *fleet {
	t.Helper()
	f := &fleet{hosts: map[string]*sshdtest.Host{}, knownHosts: filepath.Join(t.TempDir(), "known_hosts")}
	for _, name := range names {
		f.add(t, name, sshdtest.Options{})
	}
	return f
}

// add starts one more host with opts and trusts its key.
func (f *fleet) add(t *testing.T, name string, opts sshdtest.Options) {
	t.Helper()
	opts.ClientKey = f.key
	h := sshdtest.Start(t, opts)
	f.key, f.user = h.ClientKey, h.User
	f.hosts[name] = h
	kh, err := os.OpenFile(f.knownHosts, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer kh.Close()
	if _, err := fmt.Fprintln(kh, h.KnownHostsLine()); err != nil {
		t.Fatal(err)
	}
}

// env writes a runbook environment whose hosts are the named fleet hosts,
// each with its own deploy dir.
func (f *fleet) env(name string, hosts ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  %s:\n    user: %s\n    auth: {key_file: %s}\n    hosts:\n", name, f.user, f.key)
	for _, h := range hosts {
		fmt.Fprintf(&b, "      - {name: %s, address: %q, deploy_dir: %s}\n", h, f.hosts[h].Addr, f.hosts[h].DeployDir)
	}
	return b.String()
}

// file is the path of a file in a host's deploy dir.
func (f *fleet) file(host, name string) string { return filepath.Join(f.hosts[host].DeployDir, name) }

// operations reads the operations recorded outside releases.
func operations(t *testing.T, dir string) []runbook.Operation {
	t.Helper()
	st, err := state.OpenReadOnly(filepath.Join(dir, ".runbook", "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ops, err := st.Operations(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return ops
}
