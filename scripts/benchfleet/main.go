// Command benchfleet serves scripts/bench-fleet.sh:
//
//	benchfleet serve -n 100 -dir D
//	    starts 100 real OpenSSH sshd on 127.0.0.1, each with a clean HOME
//	    of its own; writes D/hosts (one line per host: name port user key
//	    deploy_dir home sshd_log), D/known_hosts and D/pids, prints
//	    "ready", and runs until its stdin closes; then it stops every
//	    sshd by its PID.
//	benchfleet runbook [-cpuprofile F] [-memprofile F] [-trace F] -- ARGS...
//	    runs runbook ARGS in this process (the same code as the binary)
//	    with a CPU profile, for `go tool pprof`, or an execution trace,
//	    for `go tool trace` (where a host run waits: -pprof=sync, net).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"sync"

	"github.com/runbook-dev/runbook/runbook/cli"
	"github.com/runbook-dev/runbook/steps/remote/sshdtest"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchfleet serve|runbook [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "runbook":
		var code int
		code, err = profiled(os.Args[2:])
		if err == nil {
			os.Exit(code)
		}
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchfleet:", err)
		os.Exit(1)
	}
}

// profiled runs runbook with args in this process under a CPU profile.
func profiled(args []string) (int, error) {
	fs := flag.NewFlagSet("runbook", flag.ExitOnError)
	cpu := fs.String("cpuprofile", "", "write a CPU profile here")
	mem := fs.String("memprofile", "", "write a heap profile here at the end")
	tr := fs.String("trace", "", "write an execution trace here (go tool trace)")
	_ = fs.Parse(args)
	if *tr != "" {
		f, err := os.Create(*tr)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		if err := trace.Start(f); err != nil {
			return 0, err
		}
		defer trace.Stop()
	}
	if *cpu != "" {
		f, err := os.Create(*cpu)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return 0, err
		}
		defer pprof.StopCPUProfile()
	}
	code := cli.Main(context.Background(), fs.Args(), os.Stdin, os.Stdout, os.Stderr)
	if *mem != "" {
		f, err := os.Create(*mem)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		runtime.GC()
		if err := pprof.WriteHeapProfile(f); err != nil {
			return 0, err
		}
	}
	return code, nil
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	n := fs.Int("n", 100, "hosts")
	dir := fs.String("dir", "", "work directory")
	_ = fs.Parse(args)
	if *dir == "" {
		return errors.New("-dir is required")
	}
	// One key for the fleet, as a real one has: made by the first host.
	first, err := start(*dir, 0, "")
	if err != nil {
		return err
	}
	hosts := make([]*sshdtest.Host, *n)
	hosts[0] = first
	defer func() {
		for _, h := range hosts {
			if h != nil {
				_ = h.Stop()
			}
		}
	}()
	// The rest four at a time: a hundred key generations and sshd starts
	// one after the other take long on two cores.
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, 4)
	)
	for i := 1; i < *n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			h, err := start(*dir, i, first.ClientKey)
			mu.Lock()
			defer mu.Unlock()
			hosts[i] = h
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	var lines, known, pids []string
	for i, h := range hosts {
		lines = append(lines, fmt.Sprintf("h%03d %d %s %s %s %s %s", i+1, h.Port, h.User, h.ClientKey, h.DeployDir, h.Home, h.LogFile))
		known = append(known, h.KnownHostsLine())
		pids = append(pids, fmt.Sprint(h.PID))
	}
	for name, text := range map[string][]string{"hosts": lines, "known_hosts": known, "pids": pids} {
		if err := os.WriteFile(filepath.Join(*dir, name), []byte(strings.Join(text, "\n")+"\n"), 0o600); err != nil {
			return err
		}
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

// start runs host i's sshd with a HOME of its own under dir.
func start(dir string, i int, key string) (*sshdtest.Host, error) {
	d := filepath.Join(dir, fmt.Sprintf("h%03d", i+1))
	if err := os.MkdirAll(d, 0o755); err != nil {
		return nil, err
	}
	h, err := sshdtest.StartDir(d, sshdtest.Options{ClientKey: key, OwnHome: true})
	if err != nil {
		return nil, fmt.Errorf("host %d: %w", i+1, err)
	}
	return h, nil
}
