package integration

import (
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	tu "github.com/tenantrun/tenantrun/internal/testutil"
)

func TestExecArgs(t *testing.T) {
	h := tu.New(t)
	b := h.Bundle(tu.WithShell(sleeper))
	id := h.ID("exec")
	h.RunDetached(id, b)

	if out := strings.TrimSpace(h.ExecOK(id, "echo", "hi there")); out != "hi there" {
		t.Errorf("exec echo: %q", out)
	}
	// Exit codes propagate through exec.
	if r := h.Exec(id, "sh", "-c", "exit 5"); r.Code != 5 {
		t.Errorf("exec exit 5: %s", r)
	}
	// --env
	r := h.ExecWith([]string{"--env", "FOO=bar", "--env", "BAZ=qux quux"}, id, "sh", "-c", `echo "$FOO/$BAZ"`)
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != "bar/qux quux" {
		t.Errorf("exec --env: %s", r)
	}
	// --cwd
	r = h.ExecWith([]string{"--cwd", "/etc"}, id, "pwd")
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != "/etc" {
		t.Errorf("exec --cwd: %s", r)
	}
	// --user uid:gid (1000 is in the rootfs's passwd and inside any tenant mapping)
	r = h.ExecWith([]string{"--user", "1000:1000"}, id, "sh", "-c", "echo $(id -u):$(id -g)")
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != "1000:1000" {
		t.Errorf("exec --user 1000:1000: %s", r)
	}
	// A missing command is an error, not a hang.
	if r := h.Exec(id, "/no/such/binary"); r.Code == 0 {
		t.Errorf("exec of a missing binary succeeded: %s", r)
	}
	// exec -d with --pid-file.
	pidFile := tu.TempDir(t, "pid") + "/exec.pid"
	h.OK("exec", "-d", "--pid-file", pidFile, id, "sleep", "1003")
	pid := tu.ReadPidFile(t, pidFile)
	if !tu.ProcAlive(pid) {
		t.Errorf("exec -d pid %d not alive", pid)
	}
	// Exec into a stopped container fails.
	h.OK("kill", id, "KILL")
	h.WaitStatus(id, "stopped", 10*time.Second)
	if r := h.Exec(id, "true"); r.Code == 0 {
		t.Errorf("exec into a stopped container succeeded: %s", r)
	}
	h.OK("delete", id)
}

func TestExecProcessFile(t *testing.T) {
	h := tu.New(t)
	b := h.Bundle(tu.WithShell(sleeper))
	id := h.ID("execproc")
	h.RunDetached(id, b)
	p := tu.DefaultSpec().Process
	p.Args = []string{"sh", "-c", `echo "$GREETING from $(pwd) as $(id -u)"`}
	p.Env = append(p.Env, "GREETING=hello")
	p.Cwd = "/tmp"
	p.User = specs.User{UID: 1000, GID: 1000}
	path := b.ProcessJSON("process.json", p)
	r := h.R("exec", "--process", path, id)
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != "hello from /tmp as 1000" {
		t.Errorf("exec --process: %s", r)
	}
	// A malformed process file: clear error, non-zero.
	bad := b.Dir + "/bad-process.json"
	tu.WriteFile(t, bad, `{"args": ["sh", `)
	if r := h.R("exec", "--process", bad, id); r.Code == 0 || r.Panicked() {
		t.Errorf("exec --process with malformed JSON: %s", r)
	}
	h.Delete(id)
}

func TestExecTTY(t *testing.T) {
	h := tu.New(t)
	b := h.Bundle(tu.WithShell(sleeper))
	id := h.ID("exectty")
	h.RunDetached(id, b)

	// Foreground exec --tty with the runtime's own stdio a terminal (as `runc exec -t` in a
	// shell). runc allocates the pty and proxies it; tenantrun's policy gives a terminal only
	// through an engine's --console-socket, so it must refuse clearly (and not hang).
	master, slave := tu.OpenPTY(t)
	var out strings.Builder
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			out.Write(buf[:n])
			if err != nil || strings.Contains(out.String(), "STDIN-IS-TTY") {
				return
			}
		}
	}()
	r := h.RT.RunCall(t, tu.Call{Stdio: slave, Timeout: 20 * time.Second}, "exec", "--tty", id, "sh", "-c", "tty; echo TTY-OK; test -t 0 && echo STDIN-IS-TTY")
	if tu.IsRunc() {
		select {
		case <-readDone:
		case <-time.After(5 * time.Second):
		}
	} else {
		time.Sleep(200 * time.Millisecond)
	}
	master.Close()
	<-readDone
	term := out.String()
	if tu.IsRunc() {
		if r.Code != 0 || !strings.Contains(term, "STDIN-IS-TTY") || !strings.Contains(term, "/dev/pts/") || !strings.Contains(term, "TTY-OK") {
			t.Errorf("exec --tty: %s\nterminal: %q", r, term)
		}
	} else if r.Code == 0 || r.TimedOut || !strings.Contains(term+r.Stderr, "console-socket") {
		t.Errorf("exec --tty without --console-socket: want a clear refusal naming --console-socket: %s\nterminal: %q", r, term)
	}

	// Detached tty exec: the process keeps the pty; we can type into it.
	cs2 := tu.NewConsoleSocket(t)
	h.OK("exec", "-d", "-t", "--console-socket", cs2.Path, id, "sh", "-c", "read line; echo got:$line")
	m, err := cs2.Master(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Write([]byte("typed\n")); err != nil {
		t.Fatal(err)
	}
	if out, ok := cs2.WaitOutput("got:typed", 5*time.Second); !ok {
		t.Errorf("interactive tty output %q", out)
	}
	h.Delete(id)
}

func TestRunAndCreateWithTerminal(t *testing.T) {
	h := tu.New(t)
	// run -d with terminal true.
	b := h.Bundle(tu.WithTerminal(true), tu.WithShell("tty; echo TERM-READY; exec sleep 1000"))
	id := h.ID("runtty")
	cs := tu.NewConsoleSocket(t)
	h.RunDetached(id, b, "--console-socket", cs.Path)
	if out, ok := cs.WaitOutput("TERM-READY", 10*time.Second); !ok || !strings.Contains(out, "/dev/pts/") {
		t.Errorf("run -d tty output %q", out)
	}
	h.Delete(id)

	// create + start with terminal true.
	b2 := h.Bundle(tu.WithTerminal(true), tu.WithShell("read x; echo echoed:$x; sleep 1000"))
	id2 := h.ID("createtty")
	cs2 := tu.NewConsoleSocket(t)
	h.Create(id2, b2, "--console-socket", cs2.Path)
	m, err := cs2.Master(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	h.OK("start", id2)
	if _, err := m.Write([]byte("abc\n")); err != nil {
		t.Fatal(err)
	}
	if out, ok := cs2.WaitOutput("echoed:abc", 10*time.Second); !ok {
		t.Errorf("create/start tty output %q", out)
	}
	h.Delete(id2)

	// terminal true without a console socket: an error, nothing left.
	b3 := h.Bundle(tu.WithTerminal(true))
	id3 := h.ID("nosock")
	if r := h.R("create", "--bundle", b3.Dir, id3); r.Code == 0 {
		t.Errorf("create with terminal true and no console socket succeeded: %s", r)
	}
}
