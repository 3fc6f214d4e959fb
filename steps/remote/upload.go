package remote

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"time"
)

// stager is what an upload needs from a host; the local and the SFTP
// transport implement it so both run the same staging algorithm.
type stager interface {
	mkdirAll(ctx context.Context, dir string) error
	// lstatAll describes each path without following a link, in one
	// round trip; a missing one has an error wrapping fs.ErrNotExist.
	lstatAll(ctx context.Context, paths ...string) []lstatResult
	// hashPrefix returns the hex SHA-256 of the first n bytes of p, of
	// all of it when n < 0, computed where the file lives. It refuses a
	// p that is a link or not a regular file (errNotRegular). With a
	// guard directory, it first refuses one that is a link or that, or
	// whose parent, the connecting user does not own (errForeign).
	hashPrefix(ctx context.Context, p string, n int64, guard string) (string, error)
	// write writes r into p from offset and syncs it to stable storage.
	// At offset 0 it creates p exclusively (the caller removed whatever
	// was there); past 0, p is the existing partial file, truncated to
	// offset first.
	write(ctx context.Context, p string, offset int64, r *uploadReader) (wrote, error)
	// rename replaces to with from.
	rename(ctx context.Context, from, to string) error
	// remove removes the entry p (a link itself, never its target);
	// absent is not an error.
	remove(ctx context.Context, p string) error
	// resumeMargin is how many bytes before the end of a partial file may
	// be holes left by concurrent writes cut short; a resume starts that
	// far back.
	resumeMargin() int64
	where() string
}

// wrote is what stager.write did.
type wrote struct {
	// liveSum, from a stager that hashes p on the host while it is
	// written (liveHash), is the hex SHA-256 of all of p as the host read
	// it; "" when it did not. A sum equal to the checksum of record proves
	// the copy; any other proves nothing, and the caller hashes p.
	liveSum string
	// readBack: liveSum was read back once every byte was on the host,
	// beside the sync, not while the bytes arrived.
	readBack bool
	// synced is when the last byte was on the host's stable storage.
	synced time.Time
}

// lstatResult is one answer of lstatAll.
type lstatResult struct {
	fi  FileInfo
	err error
}

// Refusals of an upload target.
var (
	// errForeign: the target directory is a link, or it or its parent
	// belongs to another user, who could swap the staged file after it
	// was verified.
	errForeign = errors.New("not the connecting user's own directory")
	// errNotRegular: a path to hash is a link or not a regular file.
	errNotRegular = errors.New("not a regular file")
)

// partName is the temporary name of an upload in its target directory: a
// dot file, so a directory listing of releases looks clean.
func partName(name string) string { return "." + name + ".part" }

// stage is Conn.Upload for any stager.
func stage(ctx context.Context, st stager, spec UploadSpec) (UploadResult, error) {
	start := time.Now()
	if spec.Name == "" || path.Base(spec.Name) != spec.Name {
		return UploadResult{}, fmt.Errorf("invalid upload name %q: it must be a plain file name", spec.Name)
	}
	if spec.SHA256 == "" && spec.Sum == nil {
		return UploadResult{}, errors.New("upload without a checksum of record")
	}
	// want returns the checksum of record, waiting for it when the
	// caller is still computing it.
	want := func() (string, error) {
		if spec.SHA256 == "" {
			sum, err := spec.Sum(ctx)
			if err != nil {
				return "", err
			}
			spec.SHA256 = sum
		}
		return spec.SHA256, nil
	}
	local, err := os.Open(spec.Local)
	if err != nil {
		return UploadResult{}, fmt.Errorf("open artifact: %w", err)
	}
	defer local.Close()
	fi, err := local.Stat()
	if err != nil {
		return UploadResult{}, fmt.Errorf("stat artifact: %w", err)
	}
	total := fi.Size()
	final := path.Join(spec.Dir, spec.Name)
	part := path.Join(spec.Dir, partName(spec.Name))

	// One round trip tells what is there: the directory, a staged file, a
	// partial one. None of them is followed if it is a link.
	found := st.lstatAll(ctx, spec.Dir, final, part)
	dir, fin, prt := found[0], found[1], found[2]
	switch {
	case errors.Is(dir.err, fs.ErrNotExist):
		if err := st.mkdirAll(ctx, spec.Dir); err != nil {
			return UploadResult{}, fmt.Errorf("create %s on %s: %w", spec.Dir, st.where(), err)
		}
	case dir.err != nil:
		return UploadResult{}, fmt.Errorf("look at %s on %s: %w", spec.Dir, st.where(), dir.err)
	case dir.fi.IsLink():
		return UploadResult{}, fmt.Errorf("%s on %s is a symbolic link: runbook stages only into a directory of its own, never through a link; remove it and upload again", spec.Dir, st.where())
	case !dir.fi.IsDir():
		return UploadResult{}, fmt.Errorf("%s on %s is not a directory: remove it and upload again", spec.Dir, st.where())
	}
	if fin.err == nil && fin.fi.IsRegular() && fin.fi.Size == total {
		sum, err := st.hashPrefix(ctx, final, -1, spec.Dir)
		if err != nil {
			return UploadResult{}, fmt.Errorf("checksum of %s on %s: %w", final, st.where(), err)
		}
		record, err := want()
		if err != nil {
			return UploadResult{}, err
		}
		if sum == record {
			report(spec.Progress, total, total)
			return UploadResult{Skipped: true, Duration: time.Since(start)}, nil
		}
	}

	// The bytes are not hashed on their way out: the host hashes what
	// landed and compares it with the checksum of record, which catches a
	// corrupt transfer and an artifact changed since its checksum was taken
	// alike, and hashing here as well would cost the client a second pass
	// per host (eight for eight hosts) for nothing.
	var offset int64
	if prt.err == nil {
		// Only a regular file is a partial upload: a link or anything else
		// under the temp name is removed, and the write then creates the
		// name exclusively, so it can never write through a planted link.
		if prt.fi.IsRegular() {
			if offset, err = resumable(ctx, st, local, part, spec.Dir, prt.fi.Size, total); err != nil {
				return UploadResult{}, err
			}
		}
		if offset == 0 {
			if err := st.remove(ctx, part); err != nil {
				return UploadResult{}, fmt.Errorf("remove the stale %s on %s: %w", part, st.where(), err)
			}
		}
	}
	report(spec.Progress, offset, total)
	r := &uploadReader{ctx: ctx, r: local, done: offset, total: total, progress: spec.Progress, hashAlong: !spec.ReadBack,
		landed: spec.Landed, lag: st.resumeMargin()}
	w, err := st.write(ctx, part, offset, r)
	if err != nil {
		return UploadResult{Resumed: offset, Written: r.done - offset}, err
	}
	if r.done != total {
		return UploadResult{}, fmt.Errorf("artifact %s changed while uploading (size %d, read %d): rebuild it and upload again", spec.Local, total, r.done)
	}
	report1(spec.Landed, total)
	record, err := want()
	if err != nil {
		// The copy stays under its temporary name, to resume from.
		return UploadResult{Resumed: offset, Written: total - offset}, err
	}
	remoteSum, along := w.liveSum, w.liveSum == record
	if !along {
		// Not hashed while it arrived, or read before some bytes landed:
		// the file as it is now decides.
		remoteSum, err = st.hashPrefix(ctx, part, -1, spec.Dir)
	}
	verify := time.Since(w.synced)
	if err != nil {
		return UploadResult{}, fmt.Errorf("checksum of %s on %s: %w", part, st.where(), err)
	}
	if remoteSum != record {
		// A corrupt copy must not be resumed from next time.
		_ = st.remove(ctx, part)
		if now, err := (localFS{}).hashPrefix(ctx, spec.Local, -1, ""); err == nil && now != record {
			return UploadResult{}, fmt.Errorf("artifact %s changed since its checksum was taken (now %s, expected %s): rebuild it and start the release again", spec.Local, now, record)
		}
		return UploadResult{}, fmt.Errorf("checksum mismatch on %s for %s: got %s, expected %s; the partial file was removed, upload again",
			st.where(), part, remoteSum, record)
	}
	Hit(PointRenameBefore)
	if err := st.rename(ctx, part, final); err != nil {
		return UploadResult{}, fmt.Errorf("rename %s to %s on %s: %w", part, spec.Name, st.where(), err)
	}
	Hit(PointRenameAfter)
	return UploadResult{Resumed: offset, Written: total - offset, Duration: time.Since(start), Verify: verify, HashedAlong: along && !w.readBack}, nil
}

// resumable returns where to continue a partial upload of size n: after
// a prefix of the temp file whose hash on the host equals the local prefix
// hash (local is then positioned there), else 0. The host hashes it only
// once the directory is known to be the connecting user's: a partial file
// is written through its name, and nobody else may be able to swap it.
func resumable(ctx context.Context, st stager, local *os.File, part, dir string, n, total int64) (int64, error) {
	offset := min(n, total) - st.resumeMargin()
	if offset <= 0 {
		return 0, nil
	}
	h := sha256.New()
	if _, err := io.CopyN(h, local, offset); err != nil {
		return 0, fmt.Errorf("read artifact: %w", err)
	}
	want := hex.EncodeToString(h.Sum(nil))
	got, err := st.hashPrefix(ctx, part, offset, dir)
	if errors.Is(err, errForeign) {
		return 0, fmt.Errorf("resume %s on %s: %w", part, st.where(), err)
	}
	if err == nil && got == want {
		return offset, nil
	}
	if _, err := local.Seek(0, io.SeekStart); err != nil {
		return 0, fmt.Errorf("rewind artifact: %w", err)
	}
	return 0, nil
}

func report(progress func(done, total int64), done, total int64) {
	if progress != nil {
		progress(done, total)
	}
}

func report1(landed func(n int64), n int64) {
	if landed != nil {
		landed(n)
	}
}

// uploadReader streams the artifact: it reports progress and stops on
// cancellation. Size lets sftp.File.ReadFrom keep its concurrent
// writes; a plain wrapper reader would silently make them sequential.
type uploadReader struct {
	ctx      context.Context
	r        io.Reader
	done     int64
	total    int64
	progress func(done, total int64)
	// hashAlong lets the stager hash the file on the host while it is
	// written (UploadSpec.ReadBack).
	hashAlong bool
	// watch, when set, is told done after every read (liveHash.advance).
	watch func(done int64)
	// landed, when set, is told before every read how much of what was
	// read before is surely on the host: all of it but lag, the stager's
	// resumeMargin, what may still be in flight (UploadSpec.Landed).
	landed  func(n int64)
	lag     int64
	halfway bool // PointUploadMid was hit
}

func (u *uploadReader) Read(p []byte) (int, error) {
	if err := u.ctx.Err(); err != nil {
		return 0, err
	}
	// What earlier reads returned has gone to the writer, which writes it
	// before it reads again (local) or has at most lag of it in flight.
	if u.landed != nil && u.done > u.lag {
		u.landed(u.done - u.lag)
	}
	n, err := u.r.Read(p)
	if n > 0 {
		u.done += int64(n)
		report(u.progress, u.done, u.total)
		if u.watch != nil {
			u.watch(u.done)
		}
		if !u.halfway && 2*u.done >= u.total {
			u.halfway = true
			Hit(PointUploadMid)
		}
	}
	return n, err
}

// Size is the number of bytes still to read.
func (u *uploadReader) Size() int64 { return u.total - u.done }

// errNoSpace marks a write refused for lack of space on the host.
var errNoSpace = errors.New("no space left on device")
