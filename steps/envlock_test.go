package steps

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/steps/remote/sshdtest"
)

func lockOwnerOf(store, machine string, release int64) runbook.EnvLockOwner {
	return runbook.EnvLockOwner{Operator: "op-" + machine, Machine: machine, PID: 4242, Env: "e", Version: "2.0",
		ReleaseID: release, State: "/srv/" + store + "/state.db", StoreID: store, Since: time.Date(2026, 12, 4, 2, 0, 0, 0, time.UTC)}
}

// TestEnvLockOnAHost: the lock in deploy_dir (made when missing) names its
// owner; another release is refused naming it; the same release from
// another machine takes it again; only the owner gives it back.
func TestEnvLockOnAHost(t *testing.T) {
	eachTransport(t, func(t *testing.T, d *deployHost) {
		ctx := context.Background()
		if err := os.RemoveAll(d.deploy); err != nil {
			t.Fatal(err)
		}
		a := lockOwnerOf("store-a", "laptop-a", 7)
		if err := d.e.LockHost(ctx, d.h, a); err != nil {
			t.Fatalf("LockHost on a host without its deploy_dir: %v", err)
		}
		if got, err := d.e.HostLock(ctx, d.h); err != nil || got == nil || *got != a {
			t.Fatalf("HostLock = %+v, %v; want %+v", got, err, a)
		}
		b := lockOwnerOf("store-b", "laptop-b", 7)
		err := d.e.LockHost(ctx, d.h, b)
		var le *runbook.EnvLockedError
		if !errors.As(err, &le) || le.Owner != a || le.Host != "h1" {
			t.Fatalf("another store's LockHost = %v; want *EnvLockedError naming %+v", err, a)
		}
		if err := d.e.UnlockHost(ctx, d.h, b); err != nil {
			t.Fatal(err)
		}
		if got, _ := d.e.HostLock(ctx, d.h); got == nil || *got != a {
			t.Fatalf("someone else's UnlockHost removed the lock: %+v", got)
		}
		handover := lockOwnerOf("store-a", "laptop-c", 7)
		if err := d.e.LockHost(ctx, d.h, handover); err != nil {
			t.Fatalf("the same release from another machine: %v", err)
		}
		if got, _ := d.e.HostLock(ctx, d.h); got == nil || got.Machine != "laptop-c" {
			t.Errorf("after the handover the lock names %+v", got)
		}
		if err := d.e.UnlockHost(ctx, d.h, a); err != nil {
			t.Fatal(err)
		}
		if got, err := d.e.HostLock(ctx, d.h); err != nil || got != nil {
			t.Fatalf("after the owner's UnlockHost: %+v, %v", got, err)
		}
		if left, _ := filepath.Glob(filepath.Join(d.deploy, ".runbook-lock*")); d.h.Local && len(left) != 0 {
			t.Errorf("left behind: %v", left)
		}
		if err := d.e.LockHost(ctx, d.h, b); err != nil {
			t.Fatal(err)
		}
		if err := d.e.BreakHostLock(ctx, d.h); err != nil {
			t.Fatal(err)
		}
		if got, _ := d.e.HostLock(ctx, d.h); got != nil {
			t.Errorf("after BreakHostLock: %+v", got)
		}
	})
}

// TestEnvLockRace: many runbooks take the lock of one host at once;
// exactly one gets it, every other is refused naming that one.
func TestEnvLockRace(t *testing.T) {
	eachTransport(t, func(t *testing.T, d *deployHost) {
		for round := range 5 {
			var wg sync.WaitGroup
			errs := make([]error, 8)
			for i := range errs {
				wg.Go(func() {
					errs[i] = d.e.LockHost(context.Background(), d.h, lockOwnerOf(fmt.Sprintf("store-%d", i), "m", 1))
				})
			}
			wg.Wait()
			winner := -1
			for i, err := range errs {
				var le *runbook.EnvLockedError
				switch {
				case err == nil && winner >= 0:
					t.Fatalf("round %d: %d and %d both hold the lock", round, winner, i)
				case err == nil:
					winner = i
				case !errors.As(err, &le):
					t.Fatalf("round %d: %d: %v", round, i, err)
				}
			}
			if winner < 0 {
				t.Fatalf("round %d: nobody got the lock: %v", round, errs)
			}
			for i, err := range errs {
				var le *runbook.EnvLockedError
				if i != winner && (!errors.As(err, &le) || le.Owner.StoreID != fmt.Sprintf("store-%d", winner)) {
					t.Errorf("round %d: %d was refused naming %v, want store-%d", round, i, err, winner)
				}
			}
			if err := d.e.BreakHostLock(context.Background(), d.h); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestEnvLockWithoutOwner: a lock directory whose owner file is missing
// (made by hand, a disk that lost it) refuses everyone, saying so.
func TestEnvLockWithoutOwner(t *testing.T) {
	dir := t.TempDir()
	d := newDeployHost(t, dir, "    local: true\n", "{name: h1, deploy_dir: "+filepath.Join(dir, "deploy")+"}")
	if err := os.Mkdir(filepath.Join(d.deploy, ".runbook-lock"), 0o755); err != nil {
		t.Fatal(err)
	}
	err := d.e.LockHost(context.Background(), d.h, lockOwnerOf("a", "m", 1))
	var le *runbook.EnvLockedError
	if !errors.As(err, &le) || !le.Unknown {
		t.Fatalf("LockHost over a lock without owner = %v", err)
	}
}

// TestEnvLockStartsNoProcess: the lock is taken on every host as a
// release begins, so it goes through SFTP alone, and a host whose
// sessions can run nothing but SFTP (ForceCommand internal-sftp) is
// locked, taken again and given back all the same, the owner file
// readable by its user alone.
func TestEnvLockStartsNoProcess(t *testing.T) {
	dir := t.TempDir()
	h := sshdtest.Start(t, sshdtest.Options{ExtraConfig: []string{"ForceCommand internal-sftp"}})
	if err := os.WriteFile(filepath.Join(dir, "known_hosts"), []byte(h.KnownHostsLine()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := fmt.Sprintf("    user: %s\n    auth: {key_file: %s}\n", h.User, h.ClientKey)
	d := newDeployHost(t, dir, env, fmt.Sprintf("{name: h1, address: %q, deploy_dir: %s}", h.Addr, h.DeployDir))
	ctx := context.Background()
	a := lockOwnerOf("store-a", "laptop-a", 7)
	if err := d.e.LockHost(ctx, d.h, a); err != nil {
		t.Fatalf("LockHost: %v", err)
	}
	owner := filepath.Join(h.DeployDir, ".runbook-lock", "owner")
	if fi, err := os.Stat(owner); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the owner file: %v, %v; want mode 0600", fi, err)
	}
	handover := lockOwnerOf("store-a", "laptop-c", 7)
	if err := d.e.LockHost(ctx, d.h, handover); err != nil {
		t.Fatalf("the same release from another machine: %v", err)
	}
	if got, err := d.e.HostLock(ctx, d.h); err != nil || got == nil || *got != handover {
		t.Fatalf("HostLock = %+v, %v; want %+v", got, err, handover)
	}
	if left, _ := filepath.Glob(filepath.Join(h.DeployDir, ".runbook-lock*", "*.tmp")); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
	if err := d.e.UnlockHost(ctx, d.h, handover); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(h.DeployDir, ".runbook-lock*")); len(left) != 0 {
		t.Errorf("left behind after UnlockHost: %v", left)
	}
}
