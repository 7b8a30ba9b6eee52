package reaper

import (
	"errors"
	"os"

	"github.com/wad-project/wad/internal/chromeproc"
	"golang.org/x/sys/unix"
)

// lockAction is one profile's Singleton* verdict.
type lockAction struct {
	profile string // path of the profile directory
	target  string // the SingletonLock target
	status  chromeproc.LockStatus
	files   []string // Singleton* entries in the profile
}

// clearStaleLocks looks at every profile directory directly below the
// auth directory of the state directory open as stateFd (a symlinked auth
// directory or profile is not followed) and removes the Singleton* entries
// of those whose lock chromeproc judges stale. A lock that is live,
// another host's, unrecognised or unreadable is kept, and so are
// Singleton* entries without a lock: Chrome discards those itself when it
// next opens the profile. Entries are unlinked, never followed
// (SingletonSocket points into /tmp). With dry set, it only reports.
func clearStaleLocks(stateFd int, authPath, hostname string, dry bool, t *tally) []lockAction {
	authFd, err := unix.Openat(stateFd, AuthDir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		// A missing auth directory has no locks. One that is a symlink
		// (ELOOP) or not a directory is left alone: Chrome clears a stale
		// lock of this host itself when it next opens the profile.
		if !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ELOOP) && !errors.Is(err, unix.ENOTDIR) {
			t.fail(&os.PathError{Op: "open", Path: authPath, Err: err})
		}
		return nil
	}
	dir := os.NewFile(uintptr(authFd), authPath)
	defer dir.Close()
	entries, err := dir.ReadDir(-1)
	if err != nil {
		t.fail(&os.PathError{Op: "readdir", Path: authPath, Err: err})
	}
	var acts []lockAction
	for _, e := range entries {
		if !e.IsDir() { // ReadDir's type comes from lstat semantics: links are not dirs
			continue
		}
		path := authPath + "/" + e.Name()
		fd, err := unix.Openat(authFd, e.Name(), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			if !errors.Is(err, unix.ENOENT) {
				t.fail(&os.PathError{Op: "open", Path: path, Err: err})
			}
			continue
		}
		act := lockAction{profile: path, status: chromeproc.LockInvalid}
		if l, err := chromeproc.ReadLockAt(fd, path, hostname); err == nil {
			act.target, act.status = l.Target, l.Status
		}
		if act.status == chromeproc.LockStale {
			prof := os.NewFile(uintptr(fd), path)
			names, err := prof.Readdirnames(-1)
			if err != nil {
				t.fail(&os.PathError{Op: "readdir", Path: path, Err: err})
			}
			for _, n := range names {
				if chromeproc.IsSingleton(n) {
					act.files = append(act.files, path+"/"+n)
					sub := tally{}
					removeAt(fd, n, path+"/"+n, 0, dry, &sub)
					t.entries += sub.entries
					t.bytes += sub.bytes
					if sub.failed > 0 {
						t.fail(sub.err())
					}
				}
			}
			prof.Close()
		} else {
			unix.Close(fd)
		}
		if act.status != chromeproc.LockNone {
			acts = append(acts, act)
		}
	}
	return acts
}
