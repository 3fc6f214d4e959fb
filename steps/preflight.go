package steps

import (
	"bytes"
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/steps/remote"
)

// HostNeeds is what a release will ask of one host, for CheckHost.
type HostNeeds struct {
	// Stage: the release stages the artifact in the host's deploy
	// directory (an upload step runs on its environment).
	Stage bool
	// Bytes is the artifact's size: the room staging it takes. 0 while
	// it is not built yet, when only the directory is checked.
	Bytes int64
	// Version is the release's version, "" when not known: a release
	// already staged on the host needs no more room.
	Version string
}

// HostCheck is what CheckHost found on one host.
type HostCheck struct {
	// Dir is where the release would be staged from: deploy_dir's
	// releases/ when it exists, else the directory that would hold it.
	Dir string
	// Free is the room there, in bytes; -1 when it was not looked at.
	Free int64
	// Staged: releases/<Version>/<artifact> is on the host already.
	Staged bool
	// Problems are what would stop the release on this host: the
	// connection's error as the release would meet it (an unknown host
	// key wraps runbook.ErrNeedsHuman; refused credentials carry a hint),
	// then the deploy directory's.
	Problems []error
}

// CheckHost checks, changing nothing, that a release can reach h and
// stage on it: through the executor's own connection to h (the one the
// release goes on to use), a host key known or trusted and working
// credentials; with n.Stage, a deploy directory whose releases/ the
// connecting user owns and can write, or can create, with room for the
// artifact. The rules are the upload's (layout.go): releases/ must be a
// real directory of the user.
func (e *Executor) CheckHost(ctx context.Context, h *runbook.Host, n HostNeeds) HostCheck {
	res := HostCheck{Free: -1}
	conn, err := e.conn(ctx, h)
	if err != nil {
		res.Problems = append(res.Problems, err)
		return res
	}
	if !n.Stage || h.DeployDir == "" {
		return res
	}
	if err := e.checkDeployDir(ctx, conn, h, n, &res); err != nil {
		res.Problems = append(res.Problems, err)
	}
	return res
}

// checkDeployDir looks at h's deploy directory through conn and fills res.
func (e *Executor) checkDeployDir(ctx context.Context, conn remote.Conn, h *runbook.Host, n HostNeeds, res *HostCheck) error {
	staged := ""
	if n.Version != "" && checkVersion(n.Version) == nil {
		staged = path.Join(h.DeployDir, releasesDir, n.Version, e.RB.Artifact.Name)
	}
	var out bytes.Buffer
	code, err := conn.Exec(ctx, remote.ExecSpec{Script: deployDirScript(h.DeployDir, staged), Stdout: &out, Look: true})
	if err != nil {
		return fmt.Errorf("look at deploy_dir %s on %s: %w", h.DeployDir, h.Name, err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	verdict, _ := strings.CutPrefix(lines[0], "runbook-check ")
	where := ""
	if len(lines) > 1 {
		where = lines[1]
	}
	if code != 0 || verdict == lines[0] {
		return fmt.Errorf("look at deploy_dir %s on %s: unexpected answer %q (exit %d)", h.DeployDir, h.Name, out.String(), code)
	}
	user := h.User
	if user == "" {
		user = "the connecting user"
	}
	rels := path.Join(h.DeployDir, releasesDir)
	switch verdict {
	case "ok", "ok staged":
	case "releases-link":
		return runbook.WithHint(fmt.Errorf("%s on %s is a symbolic link: runbook never follows one in a deploy directory (it could lead anywhere)", rels, h.Name),
			"replace it with a directory")
	case "releases-notdir":
		return runbook.WithHint(fmt.Errorf("%s on %s is not a directory", rels, h.Name), "move it away")
	case "releases-foreign":
		return runbook.WithHint(fmt.Errorf("%s on %s belongs to another user than %s: the upload refuses it (its owner could swap a staged file)", rels, h.Name, user),
			fmt.Sprintf("chown it to %s on %s", user, h.Name))
	case "releases-readonly":
		return runbook.WithHint(fmt.Errorf("%s on %s is not writable by %s", rels, h.Name, user), fmt.Sprintf("make it writable for %s", user))
	case "notdir":
		return runbook.WithHint(fmt.Errorf("deploy_dir %s on %s is not a directory", h.DeployDir, h.Name), "move it away, or fix deploy_dir in the runbook file")
	case "readonly":
		return runbook.WithHint(fmt.Errorf("deploy_dir %s on %s is not writable by %s: releases/ cannot be made in it", h.DeployDir, h.Name, user),
			fmt.Sprintf("make it writable for %s, or create %s owned by %s", user, rels, user))
	case "ancestor-notdir", "ancestor-readonly":
		return runbook.WithHint(fmt.Errorf("deploy_dir %s on %s does not exist, and %s, where it would be made, is not a directory %s can write", h.DeployDir, h.Name, where, user),
			fmt.Sprintf("create %s on %s, owned by %s", h.DeployDir, h.Name, user))
	default:
		return fmt.Errorf("look at deploy_dir %s on %s: unexpected answer %q", h.DeployDir, h.Name, out.String())
	}
	res.Dir, res.Staged = where, verdict == "ok staged"
	if res.Dir == "" {
		return fmt.Errorf("look at deploy_dir %s on %s: no directory in the answer %q", h.DeployDir, h.Name, out.String())
	}
	free, err := conn.FreeSpace(ctx, res.Dir)
	if err != nil {
		return err
	}
	res.Free = free
	if !res.Staged && free < n.Bytes {
		return runbook.WithHint(fmt.Errorf("%s free in %s on %s, and the artifact takes %s", runbook.Bytes(free), res.Dir, h.Name, runbook.Bytes(n.Bytes)),
			fmt.Sprintf("make room on %s (lower keep: old releases go only at the next activate)", h.Name))
	}
	return nil
}

// deployDirScript says, in one line "runbook-check VERDICT", whether a
// release can be staged under dir, and on the next line the directory
// where it would be (for its free space). It only looks. staged, when
// set, is the path of the artifact already staged for this release.
func deployDirScript(dir, staged string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "d=%s\n", hostPath(dir))
	b.WriteString(`p=$d
while [ ! -e "$p" ] && [ ! -h "$p" ]; do
  case $p in */*) p=${p%/*}; [ -n "$p" ] || p=/ ;; *) p=. ;; esac
done
r=$d/releases
v=ok
if [ -h "$r" ]; then echo "runbook-check releases-link"; exit 0; fi
if [ -e "$r" ]; then
  [ -d "$r" ] || { echo "runbook-check releases-notdir"; exit 0; }
  [ -O "$r" ] || { echo "runbook-check releases-foreign"; exit 0; }
  { [ -w "$r" ] && [ -x "$r" ]; } || { echo "runbook-check releases-readonly"; exit 0; }
  w=$r
elif [ "$p" = "$d" ]; then
  [ -d "$d" ] || { echo "runbook-check notdir"; exit 0; }
  { [ -w "$d" ] && [ -x "$d" ]; } || { echo "runbook-check readonly"; exit 0; }
  w=$d
else
  [ -d "$p" ] || { echo "runbook-check ancestor-notdir"; printf '%s\n' "$p"; exit 0; }
  { [ -w "$p" ] && [ -x "$p" ]; } || { echo "runbook-check ancestor-readonly"; printf '%s\n' "$p"; exit 0; }
  w=$p
fi
`)
	if staged != "" {
		fmt.Fprintf(&b, "s=%s\n[ ! -f \"$s\" ] || [ -h \"$s\" ] || v=\"ok staged\"\n", hostPath(staged))
	}
	b.WriteString("echo \"runbook-check $v\"\nprintf '%s\\n' \"$w\"\n")
	return b.String()
}

// hostPath quotes a path of the host for its shell; a leading ~ is the
// host's home.
func hostPath(p string) string {
	if p == "~" {
		return `"$HOME"`
	}
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		return `"$HOME"/` + remote.ShellQuote(rest)
	}
	return remote.ShellQuote(p)
}
