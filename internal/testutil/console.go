package testutil

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ConsoleSocket is the receiving end of `--console-socket`: it listens on a unix socket,
// receives the pty master fd the runtime sends with SCM_RIGHTS, and reads everything the
// container writes to its terminal.
type ConsoleSocket struct {
	Path string

	ln     *net.UnixListener
	got    chan struct{} // closed when the master arrived (or receiving failed)
	done   chan struct{} // closed when the master hit EOF/EIO
	mu     sync.Mutex
	master *os.File
	name   string
	err    error
	out    bytes.Buffer
}

// NewConsoleSocket listens on a fresh socket under the test's base dir; it is closed when the
// test ends.
func NewConsoleSocket(t testing.TB) *ConsoleSocket {
	t.Helper()
	path := filepath.Join(TempDir(t, "cs"), "console.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatalf("console socket: %v", err)
	}
	c := &ConsoleSocket{Path: path, ln: ln, got: make(chan struct{}), done: make(chan struct{})}
	go c.serve()
	t.Cleanup(c.Close)
	return c
}

func (c *ConsoleSocket) serve() {
	f, name, err := c.receive()
	c.mu.Lock()
	c.master, c.name, c.err = f, name, err
	c.mu.Unlock()
	close(c.got)
	if err != nil {
		close(c.done)
		return
	}
	go func() {
		defer close(c.done)
		buf := make([]byte, 4096)
		for {
			n, err := f.Read(buf)
			if n > 0 {
				c.mu.Lock()
				c.out.Write(buf[:n])
				c.mu.Unlock()
			}
			if err != nil {
				return // EIO once the last slave fd is closed
			}
		}
	}()
}

func (c *ConsoleSocket) receive() (*os.File, string, error) {
	conn, err := c.ln.AcceptUnix()
	if err != nil {
		return nil, "", err
	}
	defer conn.Close()
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, "", fmt.Errorf("recvmsg: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, "", fmt.Errorf("parse control message: %w", err)
	}
	var fds []int
	for _, m := range msgs {
		r, err := unix.ParseUnixRights(&m)
		if err == nil {
			fds = append(fds, r...)
		}
	}
	if len(fds) == 0 {
		return nil, "", errors.New("no fd received on the console socket")
	}
	for _, extra := range fds[1:] {
		unix.Close(extra)
	}
	name := string(buf[:n])
	// Non-blocking, so Close interrupts the reader goroutine.
	_ = unix.SetNonblock(fds[0], true)
	return os.NewFile(uintptr(fds[0]), "pty-master:"+name), name, nil
}

// Master waits for the pty master.
func (c *ConsoleSocket) Master(timeout time.Duration) (*os.File, error) {
	select {
	case <-c.got:
	case <-time.After(timeout):
		return nil, errors.New("no pty master received within " + timeout.String())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.master, c.err
}

// Output is what the terminal printed so far.
func (c *ConsoleSocket) Output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

// WaitOutput waits until the terminal output contains want, or timeout; it returns the output.
func (c *ConsoleSocket) WaitOutput(want string, timeout time.Duration) (string, bool) {
	deadline := time.Now().Add(timeout)
	for {
		out := c.Output()
		if strings.Contains(out, want) {
			return out, true
		}
		if time.Now().After(deadline) {
			return out, false
		}
		select {
		case <-c.done:
			out = c.Output()
			return out, strings.Contains(out, want)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// WaitClosed waits until the terminal's last writer is gone (the master read EOF/EIO).
func (c *ConsoleSocket) WaitClosed(timeout time.Duration) bool {
	select {
	case <-c.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// Close stops listening and closes the master.
func (c *ConsoleSocket) Close() {
	c.ln.Close()
	c.mu.Lock()
	if c.master != nil {
		c.master.Close()
	}
	c.mu.Unlock()
}
