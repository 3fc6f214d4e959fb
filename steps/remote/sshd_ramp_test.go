package remote_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/runbook-dev/runbook/steps/remote"
	"github.com/runbook-dev/runbook/steps/remote/remotetest"
	"github.com/runbook-dev/runbook/steps/remote/sshdtest"
)

// sftpWrite is one write request as OpenSSH's SFTP server logs it at
// DEBUG1: `request 7: write "/x/.a.part" (handle 0) off 0 len 131072`.
var sftpWrite = regexp.MustCompile(`request \d+: write "([^"]*)" \(handle \d+\) off (\d+) len (\d+)`)

type loggedWrite struct{ off, n int64 }

// sftpWrites returns the writes to file p logged by sftp-server, in the order
// the server handled them, one list per time the file was opened (a
// connection's writes follow its open).
func sftpWrites(t *testing.T, h *sshdtest.Host, p string) [][]loggedWrite {
	t.Helper()
	var out [][]loggedWrite
	opened := fmt.Sprintf("open %q flags WRITE", p)
	for _, line := range strings.Split(h.SFTPLog(), "\n") {
		if strings.Contains(line, opened) {
			out = append(out, nil)
			continue
		}
		m := sftpWrite.FindStringSubmatch(line)
		if m == nil || m[1] != p || len(out) == 0 {
			continue
		}
		off, _ := strconv.ParseInt(m[2], 10, 64)
		n, _ := strconv.ParseInt(m[3], 10, 64)
		out[len(out)-1] = append(out[len(out)-1], loggedWrite{off, n})
	}
	return out
}

// An upload to a host on the operator's machine (ReadBack) sends its
// first 32 MiB in 128 KiB writes and the rest in 255 KiB ones, every
// write in the order of its offset: cut off in either part, the next
// upload resumes from the verified prefix the cut left, never from 0.
// Against real sshd, whose SFTP server logs every write it handles.
func TestSSHDUploadSmallWritesFirstInOrder(t *testing.T) {
	h := sshdtest.Start(t, sshdtest.Options{SFTPLogLevel: "DEBUG1"})
	proxy := remotetest.NewProxy(t, h.Addr)
	newConn := func(t *testing.T) remote.Conn {
		p, cfg := sshdPoolAt(t, h, proxy.Addr)
		return connect(t, p, cfg)
	}
	const size, ramp, small, big = 48 << 20, 32 << 20, 131072, 261120
	local, sum := randomFile(t, size)
	ctx := context.Background()

	for _, cut := range []int64{20 << 20, 42 << 20} {
		t.Run(fmt.Sprintf("cut at %d MiB", cut>>20), func(t *testing.T) {
			dir := filepath.Join(h.DeployDir, "releases", strconv.FormatInt(cut>>20, 10))
			spec := remote.UploadSpec{Local: local, SHA256: sum, Dir: dir, Name: "a.ear", ReadBack: true}
			c := newConn(t)
			if _, err := c.Lstat(ctx, h.DeployDir); err != nil { // SFTP open before the count starts
				t.Fatal(err)
			}
			proxy.ArmLatest(remotetest.Cut, cut)
			if _, err := c.Upload(ctx, spec); err == nil {
				t.Fatal("the upload survived a cut connection")
			}
			proxy.Disarm()
			res, err := newConn(t).Upload(ctx, spec)
			if err != nil {
				t.Fatalf("upload after the cut: %v\nsshd log:\n%s", err, h.Log())
			}
			if res.Resumed <= 0 || res.Resumed+res.Written != size {
				t.Errorf("result %+v: want a resume from the prefix the cut left", res)
			}
			if got := fileSHA256(t, filepath.Join(dir, "a.ear")); got != sum {
				t.Errorf("hash %s, want %s", got, sum)
			}
			copies := sftpWrites(t, h, filepath.Join(dir, ".a.ear.part"))
			if len(copies) != 2 {
				t.Fatalf("%d copies of the file in the sshd log, want 2 (cut, resumed)\n%s", len(copies), h.SFTPLog())
			}
			for i, writes := range copies {
				next := writes[0].off
				for _, w := range writes {
					if w.off != next {
						t.Fatalf("copy %d: a write at %d where %d was next: out of order", i, w.off, next)
					}
					want := int64(big)
					if w.off < ramp {
						want = small
					}
					if w.n != want && w.off+w.n != size && w.off+w.n != ramp {
						t.Errorf("copy %d: a write of %d bytes at %d, want %d", i, w.n, w.off, want)
					}
					next = w.off + w.n
				}
			}
			lastW := copies[0][len(copies[0])-1]
			t.Logf("cut at %d MiB: the first copy wrote %d bytes in order, the second resumed at %d", cut>>20, lastW.off+lastW.n, res.Resumed)
		})
	}
}

// While an upload writes its first bytes small (it changes the SFTP
// client's packet size), the other transfers of file contents on the same
// connection go on beside it: files written and read back whole. Under
// -race a transfer that read the packet size without the upload's lock
// would be reported.
func TestSSHDUploadSmallWritesFirstBesideOtherTransfers(t *testing.T) {
	h := sshdtest.Start(t, sshdtest.Options{})
	p, cfg := sshdPool(t, h)
	c := connect(t, p, cfg)
	ctx := context.Background()
	local, sum := randomFile(t, 40<<20)
	dir := filepath.Join(h.DeployDir, "releases", "1")
	others := filepath.Join(h.DeployDir, "others")
	if err := os.MkdirAll(others, 0o755); err != nil {
		t.Fatal(err)
	}
	content := strings.Repeat("consistency fact\n", 20000) // 340 KB: more than one packet either way

	done := make(chan error, 1)
	go func() {
		_, err := c.Upload(ctx, remote.UploadSpec{Local: local, SHA256: sum, Dir: dir, Name: "a.ear", ReadBack: true})
		done <- err
	}()
	var n int
	for busy := true; busy; n++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("upload: %v", err)
			}
			busy = false
		default:
		}
		p := filepath.Join(others, fmt.Sprintf("f%d", n))
		if err := c.WriteFile(ctx, p, []byte(content)); err != nil {
			t.Fatalf("WriteFile beside the upload: %v", err)
		}
		if b, err := c.ReadFile(ctx, p); err != nil || string(b) != content {
			t.Fatalf("ReadFile beside the upload: %d bytes, %v", len(b), err)
		}
	}
	if got := fileSHA256(t, filepath.Join(dir, "a.ear")); got != sum {
		t.Errorf("hash %s, want %s", got, sum)
	}
	t.Logf("%d files written and read back while the upload ran", n)
}
