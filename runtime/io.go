package runtime

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/opencontainers/runc/libcontainer"

	"github.com/tenantrun/tenantrun/runtime/safepath"
)

// stdio is the I/O plumbing of one container process.
type stdio struct {
	postStart []io.Closer // closed once the process has started
	closers   []io.Closer // closed at the end
	wg        sync.WaitGroup
}

// setupIO prepares the process's stdin/stdout/stderr.
//   - terminal: the pty master goes to the engine's --console-socket;
//   - detached: the process inherits our stdio (engines pass pipes or files);
//   - foreground: pipes owned by the container's root, copied to our stdio, so
//     that `> /dev/stdout` works inside a user namespace.
func setupIO(p *libcontainer.Process, c *libcontainer.Container, terminal, detach bool, consoleSocket string) (*stdio, error) {
	s := &stdio{}
	if terminal {
		if consoleSocket == "" {
			return nil, errors.New("process.terminal: a terminal needs --console-socket (the engine receives the pty master there)")
		}
		// The socket inode is opened without following a symlink at its name and connected
		// through that descriptor: a swap of the name after the check changes nothing.
		f, err := safepath.DialUnix(consoleSocket)
		if err != nil {
			return nil, fmt.Errorf("--console-socket %q: %w", consoleSocket, unwrapPathErr(err))
		}
		p.Stdin, p.Stdout, p.Stderr = nil, nil, nil
		p.ConsoleSocket = f
		s.postStart = append(s.postStart, f)
		return s, nil
	}
	if detach {
		p.Stdin, p.Stdout, p.Stderr = os.Stdin, os.Stdout, os.Stderr
		return s, nil
	}
	cfg := c.Config()
	uid, err := cfg.HostRootUID()
	if err != nil {
		return nil, err
	}
	gid, err := cfg.HostRootGID()
	if err != nil {
		return nil, err
	}
	pio, err := p.InitializeIO(uid, gid)
	if err != nil {
		return nil, fmt.Errorf("setting up stdio pipes: %w", err)
	}
	for _, x := range []any{p.Stdin, p.Stdout, p.Stderr} {
		if cl, ok := x.(io.Closer); ok {
			s.postStart = append(s.postStart, cl)
		}
	}
	s.closers = append(s.closers, pio.Stdin, pio.Stdout, pio.Stderr)
	go func() {
		_, _ = io.Copy(pio.Stdin, os.Stdin)
		_ = pio.Stdin.Close()
	}()
	s.wg.Add(2)
	go s.copy(os.Stdout, pio.Stdout)
	go s.copy(os.Stderr, pio.Stderr)
	return s, nil
}

func (s *stdio) copy(w io.Writer, r io.ReadCloser) {
	defer s.wg.Done()
	_, _ = io.Copy(w, r)
	_ = r.Close()
}

// started closes our copies of the child's ends once it has them.
func (s *stdio) started() {
	for _, c := range s.postStart {
		_ = c.Close()
	}
	s.postStart = nil
}

// wait waits for the output copies to drain, then closes everything.
func (s *stdio) wait() {
	s.wg.Wait()
	s.close()
}

func (s *stdio) close() {
	s.started()
	for _, c := range s.closers {
		_ = c.Close()
	}
	s.closers = nil
}
