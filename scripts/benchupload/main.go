// Command benchupload measures runbook's SFTP upload against real sshd
// hosts on 127.0.0.1, for scripts/bench-upload.sh.
//
//	benchupload serve -n 8 -dir D    start 8 sshd, write D/hosts, D/known_hosts and D/pids, run until stdin closes
//	benchupload upload -dir D -n 8 -file F [-readback auto|on|off]
//	                                 upload F to the first 8 hosts of D/hosts in parallel;
//	                                 auto reads the copies back when several hosts (of this
//	                                 one machine) receive at once, as runbook does
//
// upload prints one line: hosts, bytes, seconds (connecting included),
// transfer seconds (until the last host has the bytes, before its checksum
// and rename), aggregate MiB/s, the CPU seconds the upload used, and the
// peak RSS of this process (VmHWM).
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/steps/remote"
	"github.com/runbook-dev/runbook/steps/remote/sshdtest"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchupload serve|upload [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "upload":
		err = upload(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchupload:", err)
		os.Exit(1)
	}
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	n := fs.Int("n", 8, "hosts")
	dir := fs.String("dir", "", "work directory")
	_ = fs.Parse(args)
	if *dir == "" {
		return errors.New("-dir is required")
	}
	var hosts []*sshdtest.Host
	defer func() {
		for _, h := range hosts {
			_ = h.Stop()
		}
	}()
	var lines, known, pids []string
	key := ""
	for i := range *n {
		d := filepath.Join(*dir, fmt.Sprintf("host%d", i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		h, err := sshdtest.StartDir(d, sshdtest.Options{ClientKey: key})
		if err != nil {
			return err
		}
		key = h.ClientKey
		hosts = append(hosts, h)
		lines = append(lines, fmt.Sprintf("%s %d %s %s %s", h.Addr, h.Port, h.User, h.ClientKey, h.DeployDir))
		known = append(known, h.KnownHostsLine())
		pids = append(pids, fmt.Sprint(h.PID))
	}
	// The listening sshd reap their sessions, so their children's CPU
	// times in /proc/PID/stat are what the hosts' side of a transfer cost.
	if err := os.WriteFile(filepath.Join(*dir, "pids"), []byte(strings.Join(pids, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*dir, "known_hosts"), []byte(strings.Join(known, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*dir, "hosts"), []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	fmt.Println("ready")
	// Run until the caller closes stdin (or dies): the sshd are stopped by
	// the deferred Stop calls.
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

type host struct {
	addr, user, key, deploy string
}

func readHosts(p string) ([]host, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []host
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) == 5 {
			out = append(out, host{addr: fl[0], user: fl[2], key: fl[3], deploy: fl[4]})
		}
	}
	return out, sc.Err()
}

func upload(args []string) error {
	fs := flag.NewFlagSet("upload", flag.ExitOnError)
	n := fs.Int("n", 1, "hosts to upload to in parallel")
	dir := fs.String("dir", "", "work directory of serve")
	file := fs.String("file", "", "file to upload")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the upload to this file")
	readBack := fs.String("readback", "auto", "hash the copies once complete (on), while they arrive (off), or as runbook does (auto)")
	_ = fs.Parse(args)
	var back bool
	switch *readBack {
	case "auto":
		back = true // the served hosts are on 127.0.0.1: runbook reads their copies back
	case "on":
		back = true
	case "off":
	default:
		return fmt.Errorf("-readback %s: want auto, on or off", *readBack)
	}
	hosts, err := readHosts(filepath.Join(*dir, "hosts"))
	if err != nil {
		return err
	}
	if *n > len(hosts) {
		return fmt.Errorf("%d hosts asked, %d served", *n, len(hosts))
	}
	sum, size, err := runbook.HashFile(*file)
	if err != nil {
		return err
	}
	pool := remote.NewPool(remote.PoolOptions{KnownHosts: filepath.Join(*dir, "known_hosts"), SSHConfig: filepath.Join(*dir, "no-ssh-config")})
	defer pool.Close()
	ctx := context.Background()
	run := fmt.Sprint(time.Now().UnixNano())
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	// The clock includes connecting, as scp's wall time does; the transfer
	// ends when the last host has its bytes (before the checksum on the
	// host and the rename).
	cpu0 := cpuSeconds()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, *n)
	sent := make([]time.Duration, *n)
	for i := range *n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := hosts[i]
			c, err := pool.Conn(ctx, remote.HostConfig{Name: fmt.Sprintf("host%d", i), Address: h.addr, User: h.user, KeyFile: h.key})
			if err != nil {
				errs[i] = err
				return
			}
			res, err := c.Upload(ctx, remote.UploadSpec{Local: *file, SHA256: sum, Dir: filepath.Join(h.deploy, "bench-"+run), Name: filepath.Base(*file), ReadBack: back})
			sent[i] = time.Since(start) - res.Verify
			errs[i] = err
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	cpu := cpuSeconds() - cpu0
	if err := errors.Join(errs...); err != nil {
		return err
	}
	total := float64(size) * float64(*n)
	fmt.Printf("hosts=%d bytes=%d seconds=%.2f transfer_seconds=%.2f mibps=%.0f cpu_seconds=%.2f peak_rss_kib=%d\n",
		*n, size, elapsed, slices.Max(sent).Seconds(), total/elapsed/(1<<20), cpu, peakRSS())
	for i := range *n {
		_ = os.RemoveAll(filepath.Join(hosts[i].deploy, "bench-"+run))
	}
	return nil
}

// cpuSeconds is the user and system CPU time this process has used.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// peakRSS reads VmHWM from /proc/self/status, in KiB; 0 when unknown.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kib int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), &kib)
			return kib
		}
	}
	return 0
}
