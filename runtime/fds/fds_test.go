package fds

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestPassedOnlyRecorded(t *testing.T) {
	// An fd opened by this process (close-on-exec) is never taken as inherited.
	own, err := unix.Open("/", unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(own)
	record()
	if _, ok := inherited[own]; ok {
		t.Fatalf("fd %d opened by tenantrun itself recorded as inherited", own)
	}
	if _, err := Passed(own-2, "--preserve-fds"); err == nil || !strings.Contains(err.Error(), "--preserve-fds") {
		t.Fatalf("handing over tenantrun's own fd %d: %v", own, err)
	}
	if _, err := Passed(-1, "--preserve-fds"); err == nil {
		t.Fatal("negative count accepted")
	}
	if f, err := Passed(0, "--preserve-fds"); err != nil || len(f) != 0 {
		t.Fatalf("0: %v %v", f, err)
	}
	// Audit catches a descriptor without close-on-exec that was not inherited.
	leak, err := unix.Open("/", unix.O_PATH, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(leak)
	if err := Audit(); err == nil || !strings.Contains(err.Error(), "close-on-exec") {
		t.Fatalf("audit missed fd %d: %v", leak, err)
	}
}
