package remote

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

// openPTY opens a new pseudo-terminal pair: the master, which this
// process reads and writes, and the terminal (the slave) a command gets as
// its controlling terminal. The terminal echoes nothing, edits no lines,
// turns no character into a signal and translates nothing, like the one
// asked of sshd (ttyModes). The master is read through the runtime's
// poller, so a read can be given a deadline.
func openPTY() (master, tty *os.File, err error) {
	master, err = os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open a terminal: %w", err)
	}
	fail := func(what string, err error) (*os.File, *os.File, error) {
		master.Close()
		if tty != nil {
			tty.Close()
		}
		return nil, nil, fmt.Errorf("open a terminal: %s: %w", what, err)
	}
	var n uint32
	if err := ioctl(master, syscall.TIOCSPTLCK, unsafe.Pointer(&n)); err != nil { // unlockpt
		return fail("unlock", err)
	}
	if err := ioctl(master, syscall.TIOCGPTN, unsafe.Pointer(&n)); err != nil { // ptsname
		return fail("its number", err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return fail("its terminal", err)
	}
	var t syscall.Termios
	if err := ioctl(tty, syscall.TCGETS, unsafe.Pointer(&t)); err != nil {
		return fail("its modes", err)
	}
	t.Lflag &^= syscall.ECHO | syscall.ECHONL | syscall.ICANON | syscall.ISIG | syscall.IEXTEN
	t.Iflag &^= syscall.IXON | syscall.IXOFF | syscall.ICRNL | syscall.INLCR | syscall.IGNCR | syscall.ISTRIP
	t.Oflag &^= syscall.OPOST
	t.Cc[syscall.VMIN], t.Cc[syscall.VTIME] = 1, 0
	if err := ioctl(tty, syscall.TCSETS, unsafe.Pointer(&t)); err != nil {
		return fail("set its modes", err)
	}
	return master, tty, nil
}

func ioctl(f *os.File, req uint, arg unsafe.Pointer) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, uintptr(req), uintptr(arg))
	}); err != nil {
		return err
	}
	if errno != 0 {
		return errno
	}
	return nil
}
