package remote

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"syscall"
)

// statvfsExtension is OpenSSH's SFTP extension that answers statvfs(3).
const statvfsExtension = "statvfs@openssh.com"

// FreeSpace implements Conn.
func (c *sshConn) FreeSpace(ctx context.Context, p string) (int64, error) {
	if sc, _, err := c.sftpClient(ctx); err == nil {
		if _, ok := sc.HasExtension(statvfsExtension); ok {
			st, err := sc.StatVFS(p)
			if err == nil {
				return int64(st.Bavail * st.Frsize), nil
			}
		}
	}
	// No SFTP, or one without the extension (or refusing it for p): the
	// POSIX output of df, in 1024-byte blocks.
	out, code, err := c.run(ctx, "LC_ALL=C df -Pk "+hostPath(p))
	if err != nil {
		return 0, fmt.Errorf("free space at %s on %s: %w", p, c.name(), err)
	}
	if code != 0 {
		return 0, fmt.Errorf("free space at %s on %s: df exited %d", p, c.name(), code)
	}
	return parseDFAvail(string(out))
}

// parseDFAvail reads the available 1024-byte blocks from the output of
// df -Pk: a header line, then one line whose fourth field they are. A
// mount point with spaces only lengthens the last field.
func parseDFAvail(out string) (int64, error) {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 {
		return 0, fmt.Errorf("df printed %q, not a header and a line", out)
	}
	f := strings.Fields(lines[len(lines)-1])
	if len(f) < 6 {
		return 0, fmt.Errorf("df printed %q: fewer than 6 fields", lines[len(lines)-1])
	}
	kb, err := strconv.ParseInt(f[3], 10, 64)
	if err != nil || kb < 0 {
		return 0, fmt.Errorf("df printed %q as available blocks", f[3])
	}
	return kb * 1024, nil
}

// FreeSpace implements Conn.
func (l *Local) FreeSpace(_ context.Context, p string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(p, &st); err != nil {
		return 0, fmt.Errorf("free space at %s: %w", p, err)
	}
	return int64(st.Bavail) * st.Bsize, nil
}
