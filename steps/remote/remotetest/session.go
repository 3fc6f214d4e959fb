package remotetest

import (
	"encoding/binary"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// session serves one session channel: one exec or the sftp subsystem.
func (s *Server) session(nc net.Conn, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	var proc *os.Process
	var procMu sync.Mutex
	done := make(chan struct{})
	for {
		select {
		case <-done:
			return
		case req, ok := <-reqs:
			if !ok {
				return
			}
			switch req.Type {
			case "exec":
				var msg struct{ Command string }
				if err := ssh.Unmarshal(req.Payload, &msg); err != nil {
					_ = req.Reply(false, nil)
					continue
				}
				cmd, err := s.startCommand(nc, ch, msg.Command)
				if err != nil {
					_ = req.Reply(false, nil)
					continue
				}
				_ = req.Reply(true, nil)
				procMu.Lock()
				proc = cmd.Process
				procMu.Unlock()
				go func() {
					s.finishCommand(ch, cmd)
					close(done)
				}()
			case "subsystem":
				var msg struct{ Name string }
				if err := ssh.Unmarshal(req.Payload, &msg); err != nil || msg.Name != "sftp" || s.opts.NoSFTP {
					_ = req.Reply(false, nil)
					continue
				}
				_ = req.Reply(true, nil)
				go func() {
					s.serveSFTP(nc, ch)
					close(done)
				}()
			case "signal":
				var msg struct{ Signal string }
				if err := ssh.Unmarshal(req.Payload, &msg); err == nil {
					procMu.Lock()
					if proc != nil {
						// Like sshd: to the session's process, not its group.
						_ = proc.Signal(signals[msg.Signal])
					}
					procMu.Unlock()
				}
				if req.WantReply {
					_ = req.Reply(true, nil)
				}
			default:
				if req.WantReply {
					_ = req.Reply(false, nil)
				}
			}
		}
	}
}

var signals = map[string]syscall.Signal{
	"TERM": syscall.SIGTERM, "KILL": syscall.SIGKILL, "INT": syscall.SIGINT, "HUP": syscall.SIGHUP,
	"QUIT": syscall.SIGQUIT, "USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2,
}

func (s *Server) startCommand(nc net.Conn, ch ssh.Channel, command string) (*exec.Cmd, error) {
	cmd := exec.Command("/bin/sh", "-c", command)
	cmd.Dir = s.Home
	cmd.Env = append(os.Environ(), "HOME="+s.Home, "USER="+s.User)
	// Its own process group and session, as sshd gives a session: the
	// wrapper's `kill 0` must never reach the test binary.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	var out io.Writer = ch
	if n := s.dropStdout.Swap(0); n > 0 {
		out = &dropWriter{w: ch, left: n, conn: nc}
	}
	cmd.Stdout = out
	cmd.Stderr = ch.Stderr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.procs[cmd.Process] = struct{}{}
	s.mu.Unlock()
	// Not waited for: a command may end without reading all its input.
	go func() {
		_, _ = io.Copy(stdin, ch)
		stdin.Close()
	}()
	return cmd, nil
}

func (s *Server) finishCommand(ch ssh.Channel, cmd *exec.Cmd) {
	err := cmd.Wait()
	s.mu.Lock()
	delete(s.procs, cmd.Process)
	s.mu.Unlock()
	st, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if err != nil && st.Signaled() {
		sig := "KILL"
		for name, n := range signals {
			if n == st.Signal() {
				sig = name
			}
		}
		_, _ = ch.SendRequest("exit-signal", false, ssh.Marshal(struct {
			Signal     string
			CoreDumped bool
			Error      string
			Lang       string
		}{Signal: sig}))
		return
	}
	status := make([]byte, 4)
	binary.BigEndian.PutUint32(status, uint32(cmd.ProcessState.ExitCode()))
	_, _ = ch.SendRequest("exit-status", false, status)
}

func (s *Server) serveSFTP(nc net.Conn, ch ssh.Channel) {
	var rw io.ReadWriteCloser = ch
	if n := s.dropSFTP.Swap(0); n > 0 {
		rw = &dropReader{ReadWriteCloser: ch, left: n, conn: nc}
	}
	srv, err := sftp.NewServer(rw)
	if err != nil {
		return
	}
	_ = srv.Serve()
	srv.Close()
}

// dropWriter closes the connection once left bytes went through.
type dropWriter struct {
	w    io.Writer
	left int64
	conn net.Conn
}

func (d *dropWriter) Write(p []byte) (int, error) {
	if int64(len(p)) >= d.left {
		n, _ := d.w.Write(p[:d.left])
		d.left = 0
		d.conn.Close()
		return n, io.ErrClosedPipe
	}
	d.left -= int64(len(p))
	return d.w.Write(p)
}

// dropReader closes the connection once the client sent left bytes.
type dropReader struct {
	io.ReadWriteCloser
	left int64
	conn net.Conn
}

func (d *dropReader) Read(p []byte) (int, error) {
	if d.left <= 0 {
		d.conn.Close()
		return 0, io.EOF
	}
	if int64(len(p)) > d.left {
		p = p[:d.left]
	}
	n, err := d.ReadWriteCloser.Read(p)
	d.left -= int64(n)
	return n, err
}

// slowChannel delays every read, for tests of slow hosts.
type slowChannel struct {
	ssh.Channel
	delay time.Duration
}

func (c slowChannel) Read(p []byte) (int, error) {
	time.Sleep(c.delay)
	return c.Channel.Read(p)
}

func (s *Server) slow(ch ssh.Channel) ssh.Channel {
	if s.opts.ReadDelay > 0 {
		return slowChannel{Channel: ch, delay: s.opts.ReadDelay}
	}
	return ch
}

// directTCPIP forwards a direct-tcpip channel to its target.
func (s *Server) directTCPIP(nch ssh.NewChannel) {
	var msg struct {
		Host       string
		Port       uint32
		OriginHost string
		OriginPort uint32
	}
	if err := ssh.Unmarshal(nch.ExtraData(), &msg); err != nil {
		_ = nch.Reject(ssh.ConnectionFailed, "bad request")
		return
	}
	target, err := net.DialTimeout("tcp", net.JoinHostPort(msg.Host, strconv.FormatUint(uint64(msg.Port), 10)), 10*time.Second)
	if err != nil {
		_ = nch.Reject(ssh.ConnectionFailed, err.Error())
		return
	}
	ch, reqs, err := nch.Accept()
	if err != nil {
		target.Close()
		return
	}
	go ssh.DiscardRequests(reqs)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(target, ch)
		if tc, ok := target.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}()
	go func() {
		defer wg.Done()
		_, _ = io.Copy(ch, target)
		_ = ch.CloseWrite()
	}()
	wg.Wait()
	ch.Close()
	target.Close()
}
