package reaper

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// lockName is Chrome's profile lock: a symlink whose target is
// "<hostname>-<pid>" of the browser holding the profile. SingletonCookie
// and SingletonSocket accompany it.
const lockName = "SingletonLock"

// lockStatus is what a profile's SingletonLock says.
type lockStatus int

const (
	lockNone    lockStatus = iota // no lock: nothing to remove
	lockStale                     // this host, browser dead: remove Singleton*
	lockLive                      // this host, a Chrome still runs under that pid
	lockForeign                   // another host's lock (shared storage): keep
	lockUnknown                   // not a symlink or not host-pid: keep
)

// parseLock splits a SingletonLock target into host and pid. Host names
// may contain '-', so the pid is what follows the last one.
func parseLock(target string) (host string, pid int, ok bool) {
	i := strings.LastIndexByte(target, '-')
	if i <= 0 {
		return "", 0, false
	}
	pid, err := strconv.Atoi(target[i+1:])
	if err != nil || pid <= 0 {
		return "", 0, false
	}
	return target[:i], pid, true
}

// judgeLock classifies a lock target for this host, the way Chrome's own
// profile-lock check does: the lock is live only if the pid runs a Chrome
// executable. A pid whose executable cannot be read counts as live.
func judgeLock(target, hostname string) lockStatus {
	host, pid, ok := parseLock(target)
	switch {
	case !ok:
		return lockUnknown
	case host != hostname:
		return lockForeign
	case chromeRunning(pid):
		return lockLive
	}
	return lockStale
}

// chromeRunning reports whether pid is a live process running a Chrome
// executable, or one we are not allowed to identify.
func chromeRunning(pid int) bool {
	state, _, _, err := readStat(pid)
	if err != nil || state == 'Z' || state == 'X' {
		return false
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if errors.Is(err, fs.ErrPermission) {
		return true
	}
	if err != nil {
		return false // exited meanwhile, or a kernel thread
	}
	return chromeNames[filepath.Base(strings.TrimSuffix(exe, " (deleted)"))]
}

// lockAction is one profile's Singleton* verdict.
type lockAction struct {
	profile string // path of the profile directory
	target  string // the SingletonLock target
	status  lockStatus
	files   []string // Singleton* entries in the profile
}

// clearStaleLocks looks at every profile directory directly below the
// auth directory of the state directory open as stateFd (a symlinked auth
// directory or profile is not followed) and removes the Singleton* entries
// of those whose lock is stale. Entries are unlinked, never followed
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
		act := lockAction{profile: path}
		act.target, act.status = readLock(fd, hostname)
		if act.status == lockStale {
			prof := os.NewFile(uintptr(fd), path)
			names, err := prof.Readdirnames(-1)
			if err != nil {
				t.fail(&os.PathError{Op: "readdir", Path: path, Err: err})
			}
			for _, n := range names {
				if strings.HasPrefix(n, "Singleton") {
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
		if act.status != lockNone {
			acts = append(acts, act)
		}
	}
	return acts
}

// readLock reads and judges the SingletonLock of the profile open as fd.
func readLock(fd int, hostname string) (string, lockStatus) {
	buf := make([]byte, 512)
	n, err := unix.Readlinkat(fd, lockName, buf)
	switch {
	case errors.Is(err, unix.ENOENT):
		return "", lockNone
	case err != nil:
		return "", lockUnknown // EINVAL: not a symlink
	}
	target := string(buf[:n])
	return target, judgeLock(target, hostname)
}

func (s lockStatus) String() string {
	switch s {
	case lockStale:
		return "stale"
	case lockLive:
		return "held by a running browser"
	case lockForeign:
		return "another host's"
	case lockUnknown:
		return "unrecognised"
	}
	return "none"
}
