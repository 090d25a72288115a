// Package fds keeps the descriptor invariant (docs/security.md, "descriptors"): the
// only descriptors a container receives beyond stdio are ones its caller passed to
// tenantrun, and no descriptor tenantrun itself opened ever reaches a container.
//
// The mechanism: when the process starts, before any package of tenantrun opens
// anything, this package's init records which descriptors from 3 up were inherited
// from the caller (open and without FD_CLOEXEC: Go opens everything it opens with
// O_CLOEXEC), keeps each as an *os.File so its number cannot be reused, and marks it
// close-on-exec so none reaches a helper by accident. --preserve-fds N is honoured
// only if fds 3..N+2 are all in that record (Passed), and what is handed to the
// container are the recorded files themselves, never os.NewFile of a bare number.
// Before anything is spawned, Audit fails closed if any descriptor tenantrun holds is
// neither close-on-exec nor recorded.
package fds

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// inherited maps each descriptor number the caller passed (>= 3) to its file.
var inherited = map[int]*os.File{}

func init() {
	// libcontainer re-executes this binary as `tenantrun init`: the preserved
	// descriptors it was handed must survive its final exec, so leave them alone.
	if len(os.Args) > 1 && os.Args[1] == "init" {
		return
	}
	record()
}

// record scans the open descriptors and takes the inherited ones.
func record() {
	for _, fd := range openFDs() {
		if fd < 3 {
			continue
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC != 0 {
			continue // gone, or opened by this process (the Go runtime)
		}
		unix.FcntlInt(uintptr(fd), unix.F_SETFD, flags|unix.FD_CLOEXEC)
		inherited[fd] = os.NewFile(uintptr(fd), "preserved-fd-"+strconv.Itoa(fd))
	}
}

// openFDs lists this process's descriptors from /proc/self/fd.
func openFDs() []int {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return nil
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	own := int(d.Fd())
	var out []int
	for _, n := range names {
		if fd, err := strconv.Atoi(n); err == nil && fd != own {
			out = append(out, fd)
		}
	}
	sort.Ints(out)
	return out
}

// Inherited lists the descriptor numbers the caller passed, ascending.
func Inherited() []int {
	var out []int
	for fd := range inherited {
		out = append(out, fd)
	}
	sort.Ints(out)
	return out
}

// Passed returns the files for --preserve-fds n: fds 3..n+2, each of which the caller
// must have passed. flag names the option in the error.
func Passed(n int, flag string) ([]*os.File, error) {
	if n < 0 {
		return nil, fmt.Errorf("%s %d: must not be negative", flag, n)
	}
	if n > 1<<16 {
		return nil, fmt.Errorf("%s %d: too many descriptors", flag, n)
	}
	files := make([]*os.File, 0, n)
	for i := 0; i < n; i++ {
		f, ok := inherited[3+i]
		if !ok {
			return nil, fmt.Errorf("%s %d: fd %d was not passed to tenantrun by its caller (%s); only descriptors the caller passed are handed to the container", flag, n, 3+i, describe())
		}
		files = append(files, f)
	}
	return files, nil
}

func describe() string {
	in := Inherited()
	if len(in) == 0 {
		return "it passed none beyond stdio"
	}
	s := make([]string, len(in))
	for i, fd := range in {
		s[i] = strconv.Itoa(fd)
	}
	return "it passed " + strings.Join(s, ", ")
}

// Audit fails if any descriptor of this process from 3 up is inheritable across exec
// without having been passed by the caller: such a descriptor is a leak of
// tenantrun's own state towards whatever is spawned next.
func Audit() error {
	var bad []string
	for _, fd := range openFDs() {
		if fd < 3 {
			continue
		}
		if _, ok := inherited[fd]; ok {
			continue
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC != 0 {
			continue
		}
		t, _ := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
		bad = append(bad, fmt.Sprintf("%d (%s)", fd, t))
	}
	if len(bad) > 0 {
		return fmt.Errorf("internal error, nothing started: descriptors without close-on-exec would reach the container: %s", strings.Join(bad, ", "))
	}
	return nil
}
