package datadir

import (
	"io/fs"
	"syscall"
)

// fileOwner returns the uid owning fi's file, or -1 where the platform does not say.
func fileOwner(fi fs.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}
