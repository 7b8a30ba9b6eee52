package reaper

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Directory names under the state directory (the whatsapp-web.js LocalAuth
// layout the project keeps).
const (
	AuthDir  = ".wwebjs_auth"
	CacheDir = ".wwebjs_cache"
)

// tally counts what a removal removed (or, in a dry run, would remove).
type tally struct {
	entries int   // every file, link, socket and directory
	bytes   int64 // sizes of the regular files among them
	failed  int   // entries that could not be removed
	first   error // the first of those failures
}

func (t *tally) fail(err error) {
	t.failed++
	if t.first == nil {
		t.first = err
	}
}

func (t *tally) err() error {
	switch t.failed {
	case 0:
		return nil
	case 1:
		return t.first
	}
	return fmt.Errorf("%w (and %d more failures)", t.first, t.failed-1)
}

// openDir opens an absolute, already resolved directory path for the *at
// calls, refusing a symlink in the last component.
func openDir(path string) (int, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return fd, nil
}

// removeTree removes the entry name of the directory open as parent, and
// everything below it, walking by file descriptors: every step is an
// openat/fstatat/unlinkat relative to a directory already open, symlinks
// are removed as links and never followed (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW),
// and the walk does not descend into another filesystem mounted below the
// entry. path is only for messages. A missing entry removes nothing. With
// dry set, it counts without removing.
func removeTree(parent int, name, path string, dry bool, t *tally) {
	removeAt(parent, name, path, 0, dry, t)
}

func removeAt(parent int, name, path string, dev uint64, dry bool, t *tally) {
	var st unix.Stat_t
	if err := unix.Fstatat(parent, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if !errors.Is(err, unix.ENOENT) {
			t.fail(&os.PathError{Op: "lstat", Path: path, Err: err})
		}
		return
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		if !dry {
			if err := unix.Unlinkat(parent, name, 0); err != nil {
				if !errors.Is(err, unix.ENOENT) {
					t.fail(&os.PathError{Op: "unlink", Path: path, Err: err})
				}
				return
			}
		}
		t.entries++
		if st.Mode&unix.S_IFMT == unix.S_IFREG {
			t.bytes += st.Size
		}
		return
	}
	if dev == 0 {
		dev = st.Dev
	} else if st.Dev != dev {
		t.fail(fmt.Errorf("%s: another filesystem is mounted here; not descending", path))
		return
	}
	fd, err := unix.Openat(parent, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
			// Replaced by a file or symlink since the fstatat: remove that.
			removeAt(parent, name, path, dev, dry, t)
		} else if !errors.Is(err, unix.ENOENT) {
			t.fail(&os.PathError{Op: "open", Path: path, Err: err})
		}
		return
	}
	var opened unix.Stat_t
	if err := unix.Fstat(fd, &opened); err != nil || opened.Dev != st.Dev || opened.Ino != st.Ino {
		unix.Close(fd)
		t.fail(fmt.Errorf("%s: changed while being removed", path))
		return
	}
	dir := os.NewFile(uintptr(fd), path)
	names, err := dir.Readdirnames(-1)
	if err != nil {
		t.fail(&os.PathError{Op: "readdir", Path: path, Err: err})
	}
	for _, n := range names {
		removeAt(fd, n, path+"/"+n, dev, dry, t)
	}
	dir.Close()
	if !dry {
		if err := unix.Unlinkat(parent, name, unix.AT_REMOVEDIR); err != nil {
			if !errors.Is(err, unix.ENOENT) {
				t.fail(&os.PathError{Op: "rmdir", Path: path, Err: err})
			}
			return
		}
	}
	t.entries++
}
