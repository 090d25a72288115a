package testutil

import "golang.org/x/sys/unix"

func syscallKill(pid int) error { return unix.Kill(pid, unix.SIGKILL) }

func unmountDetach(path string) error { return unix.Unmount(path, unix.MNT_DETACH) }
