package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
)

// SFTP tuning (DESIGN "SSH and SFTP"): about half a MiB in flight per
// file. More makes sshd copy buffers around its 2 MiB channel window and
// gets slower; less leaves the link idle between round trips.
const (
	// OpenSSH's sftp-server accepts writes this large when it advertises
	// limits@openssh.com (its max-write-length is 255 KiB).
	bigPacket      = 261120
	bigConcurrency = 2
	// Every server must accept 32 KiB packets.
	smallPacket      = 32768
	smallConcurrency = 16
	// The first rampBytes of a copy to a host on the operator's own
	// machine go in rampPacket writes: sshd grows its buffers for the
	// first big writes of a session in fresh memory, and on one machine
	// that start costs the CPU the copies share more than the smaller
	// writes do (BENCHMARKS, issue 15 Part 1, "Smaller writes first").
	// Over a network the full window keeps the link busy from the start.
	rampPacket = 131072
	rampBytes  = 32 << 20
)

// sftpClient returns the connection's SFTP client, opened on first use.
func (c *sshConn) sftpClient(ctx context.Context) (*sftp.Client, *client, error) {
	cl, err := c.pool.client(ctx, c.cfg, 0)
	if err != nil {
		return nil, nil, err
	}
	sc, err := c.sftpOn(ctx, cl)
	return sc, cl, err
}

// sftpOn returns the SFTP client of the connection cl, opening it if
// need be. It never dials: on a connection closed meanwhile it fails.
func (c *sshConn) sftpOn(ctx context.Context, cl *client) (*sftp.Client, error) {
	cl.sftpMu.Lock()
	defer cl.sftpMu.Unlock()
	if cl.sftp != nil {
		return cl.sftp, nil
	}
	if cl.sftpErr != nil {
		return nil, cl.sftpErr
	}
	sc, err := openSFTP(ctx, cl, c.name(), c.pool.opts.ConnectTimeout)
	if err != nil {
		if cl.alive() && ctx.Err() == nil && !errors.Is(err, errSFTPNoAnswer) {
			cl.sftpErr = err
		}
		return nil, err
	}
	// The packet size can only be chosen once the server has told its
	// extensions, i.e. after NewClient; the options only set fields read
	// when a transfer starts.
	packet, conc := smallPacket, smallConcurrency
	if _, ok := sc.HasExtension("limits@openssh.com"); ok {
		packet, conc = bigPacket, bigConcurrency
	}
	for _, opt := range []sftp.ClientOption{sftp.MaxPacketUnchecked(packet), sftp.MaxConcurrentRequestsPerFile(conc)} {
		if err := opt(sc); err != nil {
			sc.Close()
			return nil, fmt.Errorf("configure sftp on %s: %w", c.name(), err)
		}
	}
	cl.sftp = sc
	return sc, nil
}

// sftpFS is a host's file system through SFTP (and a session for
// hashing), as a stager and for the file primitives of Conn.
type sftpFS struct {
	c  *sshConn
	cl *client
	sc *sftp.Client
}

// withFS runs fn on the host's file system. When fn reports the SFTP
// connection lost, the pooled connection is discarded at once: its reader
// may not have noticed yet, and the next call must redial, not reuse it.
func (c *sshConn) withFS(ctx context.Context, fn func(*sftpFS) error) error {
	sc, cl, err := c.sftpClient(ctx)
	if err != nil {
		return err
	}
	err = fn(&sftpFS{c: c, cl: cl, sc: sc})
	if err != nil && (errors.Is(err, sftp.ErrSSHFxConnectionLost) || !cl.alive()) {
		c.pool.discard(c.cfg, cl)
	}
	return err
}

// Upload implements Conn.
func (c *sshConn) Upload(ctx context.Context, spec UploadSpec) (res UploadResult, err error) {
	err = c.withFS(ctx, func(f *sftpFS) error {
		res, err = stage(ctx, f, spec)
		return err
	})
	return res, err
}

// Lstat implements Conn.
func (c *sshConn) Lstat(ctx context.Context, p string) (fi FileInfo, err error) {
	err = c.withFS(ctx, func(f *sftpFS) error {
		r := f.lstatAll(ctx, p)[0]
		fi = r.fi
		return r.err
	})
	return fi, err
}

// Readlink implements Conn.
func (c *sshConn) Readlink(ctx context.Context, p string) (target string, err error) {
	err = c.withFS(ctx, func(f *sftpFS) error {
		target, err = f.sc.ReadLink(p)
		return err
	})
	return target, err
}

// Symlink implements Conn.
func (c *sshConn) Symlink(ctx context.Context, target, link string) error {
	return c.withFS(ctx, func(f *sftpFS) error {
		if err := f.sc.Symlink(target, link); err != nil {
			return f.explain(err, link)
		}
		return nil
	})
}

// Rename implements Conn.
func (c *sshConn) Rename(ctx context.Context, from, to string) error {
	return c.withFS(ctx, func(f *sftpFS) error { return f.rename(ctx, from, to) })
}

// Mkdir implements Conn. SFTP reports an existing entry as a plain
// failure; a look at the name tells it apart.
func (c *sshConn) Mkdir(ctx context.Context, p string) error {
	return c.withFS(ctx, func(f *sftpFS) error {
		err := f.sc.Mkdir(p)
		if err == nil {
			return nil
		}
		if _, lerr := f.sc.Lstat(p); lerr == nil {
			return fmt.Errorf("mkdir %s on %s: %w", p, c.name(), fs.ErrExist)
		}
		return f.explain(err, p)
	})
}

// WriteFile implements Conn: created exclusively (a link there makes
// it fail, not followed), then made 0600 before anything is written.
func (c *sshConn) WriteFile(ctx context.Context, p string, data []byte) error {
	return c.withFS(ctx, func(f *sftpFS) error {
		file, err := f.sc.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
		if err != nil {
			if _, lerr := f.sc.Lstat(p); lerr == nil {
				return fmt.Errorf("create %s on %s: %w", p, c.name(), fs.ErrExist)
			}
			return f.explain(err, p)
		}
		err = file.Chmod(0o600)
		if err == nil {
			f.cl.packetMu.RLock()
			_, err = file.Write(data)
			f.cl.packetMu.RUnlock()
		}
		if cerr := file.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return f.explain(err, p)
		}
		return nil
	})
}

// Remove implements Conn.
func (c *sshConn) Remove(ctx context.Context, p string) error {
	return c.withFS(ctx, func(f *sftpFS) error { return f.remove(ctx, p) })
}

// RemoveAll implements Conn. sftp.Client.RemoveAll looks with Lstat and
// lists with READDIR (lstat too on OpenSSH): a link is removed, never
// followed.
func (c *sshConn) RemoveAll(ctx context.Context, p string) error {
	return c.withFS(ctx, func(f *sftpFS) error {
		if err := f.sc.RemoveAll(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	})
}

// SHA256 implements Conn.
func (c *sshConn) SHA256(ctx context.Context, p string) (string, error) {
	return c.hash(ctx, p, -1, "")
}

// maxReadFile bounds ReadFile: consistency facts are config files.
const maxReadFile = 16 << 20

// ReadFile implements Conn.
func (c *sshConn) ReadFile(ctx context.Context, p string) ([]byte, error) {
	sc, cl, err := c.sftpClient(ctx)
	if err != nil {
		return nil, err
	}
	f, err := sc.Open(p)
	if err != nil {
		return nil, fmt.Errorf("read %s on %s: %w", p, c.name(), err)
	}
	defer f.Close()
	cl.packetMu.RLock()
	b, err := io.ReadAll(io.LimitReader(f, maxReadFile+1))
	cl.packetMu.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("read %s on %s: %w", p, c.name(), err)
	}
	if len(b) > maxReadFile {
		return nil, fmt.Errorf("read %s on %s: larger than %d MiB", p, c.name(), maxReadFile>>20)
	}
	return b, nil
}

// hash computes a SHA-256 on the host: n bytes of p, all when n < 0,
// after checking guard as stager.hashPrefix says.
func (c *sshConn) hash(ctx context.Context, p string, n int64, guard string) (string, error) {
	out, _, err := c.run(ctx, hashScript(p, n, guard))
	if err != nil {
		return "", fmt.Errorf("checksum of %s on %s: %w", p, c.name(), err)
	}
	return c.parseSum(out, p, guard)
}

// parseSum reads the answer of hashScript or liveHashScript.
func (c *sshConn) parseSum(out []byte, p, guard string) (string, error) {
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "runbook-absent":
			return "", fmt.Errorf("checksum of %s on %s: %w", p, c.name(), fs.ErrNotExist)
		case "runbook-link":
			return "", fmt.Errorf("%s on %s is a symbolic link or not a regular file: %w", p, c.name(), errNotRegular)
		case "runbook-foreign":
			return "", fmt.Errorf("%s on %s is a symbolic link, or it or its parent does not belong to %s, who could otherwise swap what is staged there: %w; let %s own it, or remove it",
				guard, c.name(), c.cfg.User, errForeign, c.cfg.User)
		}
		if isHexSHA256(f[0]) {
			return f[0], nil
		}
	}
	return "", fmt.Errorf("checksum of %s on %s: no openssl or sha256sum answered (got %q)", p, c.name(), out)
}

func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return true
}

func (f *sftpFS) where() string { return f.c.name() }

// mkdirAll tries the one level first: the upload's directory is new, its
// parent (releases/) is there, and sftp's MkdirAll would first stat them
// both.
func (f *sftpFS) mkdirAll(_ context.Context, dir string) error {
	if f.sc.Mkdir(dir) == nil {
		return nil
	}
	if err := f.sc.MkdirAll(dir); err != nil {
		return f.explain(err, dir)
	}
	return nil
}

// lstatAll sends the requests together: pkg/sftp pipelines them on the
// channel, so they cost one round trip, not one each.
func (f *sftpFS) lstatAll(_ context.Context, paths ...string) []lstatResult {
	out := make([]lstatResult, len(paths))
	var wg sync.WaitGroup
	for i, p := range paths {
		wg.Go(func() {
			fi, err := f.sc.Lstat(p)
			if err != nil {
				out[i].err = err
				return
			}
			out[i].fi = FileInfo{Mode: fi.Mode(), Size: fi.Size(), ModTime: fi.ModTime(), UID: -1}
			if st, ok := fi.Sys().(*sftp.FileStat); ok {
				out[i].fi.UID = int(st.UID)
			}
		})
	}
	wg.Wait()
	return out
}

func (f *sftpFS) hashPrefix(ctx context.Context, p string, n int64, guard string) (string, error) {
	return f.c.hash(ctx, p, n, guard)
}

// write creates a fresh temp file with O_EXCL, which the server's open
// honours without following a link. SFTP has no O_NOFOLLOW for a partial
// file it reopens: stage only resumes one after the host has checked that
// its directory, and the parent of that, belong to the connecting user.
// Unless the spec says to read it back, the host hashes the file while
// it arrives (liveHash), a step behind the writes in flight.
func (f *sftpFS) write(ctx context.Context, p string, offset int64, r *uploadReader) (wrote, error) {
	file, err := f.openPart(p, offset)
	if err != nil {
		return wrote{}, err
	}
	defer file.Close()
	if !r.hashAlong {
		// Read back beside the sync: the bytes are in the host's page
		// cache once the writes are answered, and flushing them to a
		// disk (a second or more for hundreds of MiB) needs no CPU that
		// the hash does. Both end before the rename.
		sum := make(chan string, 1)
		readBack := func() {
			go func() {
				s, _ := f.hashPrefix(ctx, p, -1, path.Dir(p)) // failed: the caller reads it back
				sum <- s
			}()
		}
		if err := f.send(file, p, r, readBack); err != nil {
			return wrote{}, err
		}
		synced := time.Now()
		select {
		case s := <-sum:
			return wrote{liveSum: s, readBack: true, synced: synced}, nil
		case <-ctx.Done():
			return wrote{}, ctx.Err()
		}
	}
	// Started once the file is there (and cut to the verified prefix).
	// Its lag covers the writes in flight and the one being read.
	live := f.c.startLiveHash(ctx, p, path.Dir(p), f.resumeMargin())
	r.watch = live.advance
	if err := f.send(file, p, r, nil); err != nil {
		live.abort()
		return wrote{}, err
	}
	synced := time.Now()
	sum, _ := live.finish(ctx) // a live hash that failed costs a read-back, nothing else
	return wrote{liveSum: sum, synced: synced}, nil
}

// openPart opens the temp file p for writing from offset: created
// exclusively at 0, else the partial file cut to its verified prefix.
func (f *sftpFS) openPart(p string, offset int64) (*sftp.File, error) {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if offset > 0 {
		flags = os.O_WRONLY
	}
	file, err := f.sc.OpenFile(p, flags)
	if err != nil {
		return nil, f.explain(err, p)
	}
	if offset > 0 {
		// Drop what lies past the verified prefix: it may have holes.
		if err := file.Truncate(offset); err != nil {
			file.Close()
			return nil, f.explain(err, p)
		}
		if _, err := file.Seek(offset, io.SeekStart); err != nil {
			file.Close()
			return nil, fmt.Errorf("seek %s on %s: %w", p, f.c.name(), err)
		}
	}
	return file, nil
}

// send streams r into file from its offset, syncs and closes it;
// written, when set, is called once every write has been answered,
// before the sync. A copy read back (UploadSpec.ReadBack: the host
// shares the operator's machine) starts with smaller writes.
func (f *sftpFS) send(file *sftp.File, p string, r *uploadReader, written func()) error {
	if err := f.pour(file, r, !r.hashAlong); err != nil {
		if r.ctx.Err() != nil {
			return r.ctx.Err()
		}
		return f.explain(err, p)
	}
	if written != nil {
		written()
	}
	if _, ok := f.sc.HasExtension("fsync@openssh.com"); ok {
		if err := file.Sync(); err != nil {
			return fmt.Errorf("sync %s on %s: %w", p, f.c.name(), err)
		}
	}
	if err := file.Close(); err != nil {
		return f.explain(err, p)
	}
	// All of it is on the host: a copy that follows this one (a relay's,
	// UploadSpec.Landed) need not wait for the live hash to end.
	if r.landed != nil {
		r.landed(r.done)
	}
	return nil
}

// pour writes r into file from its offset with pkg/sftp's own pipeline,
// which sends the writes in the order of their offsets: a copy cut short
// leaves at most the writes in flight missing before the end of the
// partial file, which resumeMargin covers. With ramp, and writes of
// bigPacket, the first rampBytes of the file go in rampPacket writes.
//
// The packet size is the client's: it is changed only under packetMu
// held for writing, for no longer than the change, and each part of the
// copy runs under it held for reading (pkg/sftp reads the size as the
// part starts), as every other transfer of file contents does. So the
// others on the connection go on beside the copy; one that starts during
// its first part writes smaller packets too, which changes nothing else.
func (f *sftpFS) pour(file *sftp.File, r io.Reader, ramp bool) error {
	part := func(r io.Reader) (int64, error) {
		f.cl.packetMu.RLock()
		defer f.cl.packetMu.RUnlock()
		return file.ReadFromWithConcurrency(r, 0) // 0: the client's concurrency
	}
	setPacket := func(n int) {
		f.cl.packetMu.Lock()
		defer f.cl.packetMu.Unlock()
		_ = sftp.MaxPacketUnchecked(n)(f.sc) // fails only for n < 1
	}
	if _, ok := f.sc.HasExtension("limits@openssh.com"); ok && ramp {
		at, err := file.Seek(0, io.SeekCurrent)
		if err != nil {
			return err
		}
		if at < rampBytes {
			setPacket(rampPacket)
			n, err := part(io.LimitReader(r, rampBytes-at))
			setPacket(bigPacket)
			if err != nil || n < rampBytes-at {
				return err
			}
		}
	}
	_, err := part(r)
	return err
}

// explain turns SFTP status errors into messages that say what to do.
func (f *sftpFS) explain(err error, p string) error {
	host := f.c.name()
	if errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("permission denied on %s for %s: check that user %s may write there: %w", host, p, f.c.cfg.User, err)
	}
	var se *sftp.StatusError
	if errors.As(err, &se) && se.FxCode() == sftp.ErrSSHFxFailure {
		// OpenSSH maps ENOSPC to the generic failure code; statvfs tells.
		if st, serr := f.sc.StatVFS(path.Dir(p)); serr == nil && st.FreeSpace() < 64<<20 {
			return fmt.Errorf("write %s on %s: %w (%d MiB free): free some space there and upload again", p, host, errNoSpace, st.FreeSpace()>>20)
		}
		return fmt.Errorf("write %s on %s failed (the disk may be full or the file system read-only): %w", p, host, err)
	}
	return fmt.Errorf("%s on %s: %w", p, host, err)
}

func (f *sftpFS) rename(_ context.Context, from, to string) error {
	if _, ok := f.sc.HasExtension("posix-rename@openssh.com"); ok {
		return f.sc.PosixRename(from, to)
	}
	// Plain SFTP rename refuses to replace: a reader may see the name
	// missing for a moment, which only a server without the extension costs.
	if err := f.sc.Remove(to); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return f.sc.Rename(from, to)
}

func (f *sftpFS) remove(_ context.Context, p string) error {
	if err := f.sc.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// resumeMargin covers the writes that were in flight when a transfer was
// cut: (concurrency + 1) packets may be missing before the end.
func (f *sftpFS) resumeMargin() int64 {
	if _, ok := f.sc.HasExtension("limits@openssh.com"); ok {
		return (bigConcurrency + 2) * bigPacket
	}
	return (smallConcurrency + 2) * smallPacket
}
