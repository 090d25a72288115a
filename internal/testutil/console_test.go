package testutil

import (
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestConsoleSocketReceivesFd sends a pipe's read end the way a runtime sends a pty master.
func TestConsoleSocketReceivesFd(t *testing.T) {
	cs := NewConsoleSocket(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: cs.Path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := conn.WriteMsgUnix([]byte("/dev/ptmx"), unix.UnixRights(int(r.Fd())), nil); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	r.Close()
	if _, err := cs.Master(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	w.WriteString("hello from the container\n")
	w.Close()
	if out, ok := cs.WaitOutput("hello from", 2*time.Second); !ok || !strings.Contains(out, "container") {
		t.Errorf("output %q", out)
	}
	if !cs.WaitClosed(2 * time.Second) {
		t.Error("reader did not see EOF")
	}
}

func TestBundleDefaultSpecRoundTrip(t *testing.T) {
	b := &Bundle{Dir: TempDir(t, "b"), Spec: DefaultSpec(), t: t}
	b.Patch(WithShell("exit 3"), WithEnv("A=1"), WithUser(1000, 1000))
	data, err := os.ReadFile(b.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"exit 3"`, `"A=1"`, `"uid": 1000`, `"ociVersion": "1.2.0"`, `"/tmp"`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("config.json lacks %s", want)
		}
	}
}
