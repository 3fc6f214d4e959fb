package steps

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/runbook"
)

// TestCheckHost checks a deploy directory as an upload would meet it,
// on the local transport and on a real sshd, changing nothing.
func TestCheckHost(t *testing.T) {
	eachTransport(t, func(t *testing.T, d *deployHost) {
		ctx := context.Background()
		check := func(n HostNeeds) HostCheck { n.Stage = true; return d.e.CheckHost(ctx, d.h, n) }
		problem := func(c HostCheck) string {
			if len(c.Problems) == 0 {
				return ""
			}
			return errors.Join(c.Problems...).Error()
		}

		// A deploy directory without releases/ yet: it will be made.
		c := check(HostNeeds{Bytes: 1 << 20})
		if p := problem(c); p != "" || c.Dir != d.deploy || c.Free <= 1<<20 || c.Staged {
			t.Fatalf("a fresh deploy directory: %+v %s", c, p)
		}
		// Not made yet, under a directory the user can write: fine, and
		// nothing was created by looking.
		d.h.DeployDir = filepath.Join(d.deploy, "not", "yet")
		if c = check(HostNeeds{}); problem(c) != "" || c.Dir != d.deploy {
			t.Errorf("a deploy directory not made yet: %+v %s", c, problem(c))
		}
		if _, err := os.Lstat(filepath.Join(d.deploy, "not")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the check created something: %v", err)
		}
		d.h.DeployDir = d.deploy

		// Not enough room for the artifact.
		c = check(HostNeeds{Bytes: 1 << 60})
		if p := problem(c); !strings.Contains(p, "free in "+d.deploy+" on h1, and the artifact takes 1073741824.0 GiB") {
			t.Errorf("no room: %s", p)
		}
		// Staged already (a resumed upload): no room needed.
		if _, err := d.upload(t, "1.0"); err != nil {
			t.Fatal(err)
		}
		c = check(HostNeeds{Bytes: 1 << 60, Version: "1.0"})
		if p := problem(c); p != "" || !c.Staged || c.Dir != filepath.Join(d.deploy, "releases") {
			t.Errorf("staged already: %+v %s", c, p)
		}

		// releases/ a link: refused as the upload would.
		rels := filepath.Join(d.deploy, "releases")
		if err := os.Rename(rels, rels+".real"); err != nil {
			t.Fatal(err)
		}
		mustSymlink(t, rels+".real", rels)
		if p := problem(check(HostNeeds{})); !strings.Contains(p, "releases on h1 is a symbolic link") {
			t.Errorf("releases/ a link: %s", p)
		}
		if err := os.Remove(rels); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(rels+".real", rels); err != nil {
			t.Fatal(err)
		}
		// releases/ of another user (giving it away needs root: CI).
		if os.Geteuid() == 0 {
			if err := os.Chown(rels, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			if p := problem(check(HostNeeds{})); !strings.Contains(p, "releases on h1 belongs to another user") {
				t.Errorf("releases/ of another user: %s", p)
			}
			if err := os.Chown(rels, 0, 0); err != nil {
				t.Fatal(err)
			}
		}

		// deploy_dir a file, or under one.
		file := filepath.Join(d.deploy, "a-file")
		if err := os.WriteFile(file, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		d.h.DeployDir = file
		if p := problem(check(HostNeeds{})); !strings.Contains(p, "deploy_dir "+file+" on h1 is not a directory") {
			t.Errorf("deploy_dir a file: %s", p)
		}
		d.h.DeployDir = filepath.Join(file, "billing")
		if p := problem(check(HostNeeds{})); !strings.Contains(p, "does not exist, and "+file+", where it would be made, is not a directory") {
			t.Errorf("deploy_dir under a file: %s", p)
		}
		var he *runbook.HintError
		if c := check(HostNeeds{}); len(c.Problems) != 1 || !errors.As(c.Problems[0], &he) {
			t.Errorf("a deploy_dir problem without a hint: %+v", c)
		}

		// A release that stages nothing here needs only the connection.
		if c := d.e.CheckHost(ctx, d.h, HostNeeds{}); problem(c) != "" || c.Free != -1 {
			t.Errorf("no staging: %+v", c)
		}
	})
}
