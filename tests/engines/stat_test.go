package engines

import "syscall"

type syscallStat struct{ uid, gid uint32 }

func statOwner(path string, out *syscallStat) error {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return err
	}
	out.uid, out.gid = st.Uid, st.Gid
	return nil
}
