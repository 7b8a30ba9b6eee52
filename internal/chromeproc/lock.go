package chromeproc

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

// LockName is Chrome's profile lock: a symlink whose target is
// "<hostname>-<pid>" of the browser holding the profile. SingletonCookie
// and SingletonSocket accompany it.
const LockName = "SingletonLock"

// LockStatus is the verdict on a profile's SingletonLock.
type LockStatus int

const (
	// LockNone: there is no SingletonLock. Any other Singleton* entry is
	// left over (Chrome creates the lock first and removes it last).
	LockNone LockStatus = iota
	// LockStale: this host's lock, and its pid is not a live Chrome
	// running on this profile. Its Singleton* entries may go.
	LockStale
	// LockLive: this host's lock, held by a live Chrome on this profile
	// (or by a process we cannot see or fully identify, which counts as
	// live). Leave the profile alone.
	LockLive
	// LockForeign: another host's lock (a profile on shared storage).
	// Only that host can tell whether it is stale.
	LockForeign
	// LockInvalid: not a symlink, or its target is not host-pid. Chrome
	// discards such a lock when it next opens the profile.
	LockInvalid
)

func (s LockStatus) String() string {
	switch s {
	case LockStale:
		return "stale"
	case LockLive:
		return "held by a running browser"
	case LockForeign:
		return "another host's"
	case LockInvalid:
		return "unrecognised"
	}
	return "none"
}

// Lock is what a profile's SingletonLock says, judged.
type Lock struct {
	Target string // the symlink target as read; "" for LockNone and a non-symlink
	Host   string // its host part, when it parses
	PID    int    // its pid part, when it parses
	// Holder is the executable (base name) of the live process holding
	// the lock, or "unknown" when it cannot be read; "" unless LockLive.
	Holder string
	Status LockStatus
}

// ReadLock reads and judges the SingletonLock of the profile directory
// for this host (os.Hostname). A missing lock is LockNone and one that is
// not a symlink LockInvalid, both without error; the error is readlink's
// otherwise (e.g. permission), or the host name's.
func ReadLock(profile string) (Lock, error) {
	host, err := os.Hostname()
	if err != nil {
		return Lock{}, fmt.Errorf("host name for the profile lock: %w", err)
	}
	return readLockAt(unix.AT_FDCWD, filepath.Join(profile, LockName), profile, host)
}

// ReadLockAt is ReadLock for a profile open as the directory dirfd: the
// lock is read with readlinkat(2), so no path is walked again. profile is
// the directory's path, which the judgement compares with browsers'
// profiles; hostname is this host's name.
func ReadLockAt(dirfd int, profile, hostname string) (Lock, error) {
	return readLockAt(dirfd, LockName, profile, hostname)
}

func readLockAt(dirfd int, name, profile, hostname string) (Lock, error) {
	buf := make([]byte, 512)
	n, err := unix.Readlinkat(dirfd, name, buf)
	switch {
	case errors.Is(err, unix.ENOENT):
		return Lock{Status: LockNone}, nil
	case errors.Is(err, unix.EINVAL):
		return Lock{Status: LockInvalid}, nil // not a symlink
	case err != nil:
		return Lock{}, &os.PathError{Op: "readlink", Path: filepath.Join(profile, LockName), Err: err}
	}
	return JudgeLock(profile, string(buf[:n]), hostname), nil
}

// JudgeLock judges a SingletonLock target read from the profile directory
// for the host named hostname. Chrome's own rule is that the lock is live
// while its pid runs a Chrome executable; this one asks in addition that
// the Chrome runs on profile (its --user-data-dir resolves to the same
// directory), so a pid reused by an unrelated browser does not hold the
// profile forever. A Chrome of any uid counts, and so does one whose
// profile cannot be resolved or a pid that exists but cannot be read.
func JudgeLock(profile, target, hostname string) Lock {
	l := Lock{Target: target, Status: LockInvalid}
	host, pid, ok := parseLock(target)
	if !ok {
		return l
	}
	l.Host, l.PID = host, pid
	if host != hostname {
		l.Status = LockForeign
		return l
	}
	l.Status = LockStale
	if exe, live := holding(pid, profile); live {
		l.Status, l.Holder = LockLive, exe
	}
	return l
}

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

// holding reports whether pid is a live Chrome on profile, and its
// executable's base name.
func holding(pid int, profile string) (string, bool) {
	p, err := Stat(pid)
	if err != nil {
		// Gone, or hidden from us (hidepid): kill(2) tells them apart.
		if errors.Is(unix.Kill(pid, 0), unix.ESRCH) {
			return "", false
		}
		return "unknown", true
	}
	c, ok := inspect(p, -1)
	switch {
	case !ok:
		return "", false // not a live Chrome (a zombie holds nothing)
	case c.hasDir && c.Profile == "":
		return filepath.Base(c.Exe), true // cannot tell where it runs
	}
	abs, err := filepath.Abs(profile)
	return filepath.Base(c.Exe), err == nil && c.Profile != "" && c.Profile == resolve(abs)
}

// IsSingleton reports whether a profile entry is one of Chrome's
// Singleton* files (SingletonLock, SingletonSocket, SingletonCookie).
func IsSingleton(name string) bool {
	return strings.HasPrefix(name, "Singleton")
}

// RemoveSingletons removes the Singleton* entries of the profile
// directory, unlinking symlinks rather than following them
// (SingletonSocket points into /tmp). It judges nothing: call it only
// after a verdict that allows it. It reports whether it removed anything;
// the error joins the failures (an entry that vanished meanwhile is not
// one, nor is a missing profile).
func RemoveSingletons(profile string) (bool, error) {
	ents, err := os.ReadDir(profile)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	removed := false
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	for _, e := range ents {
		if !IsSingleton(e.Name()) {
			continue
		}
		switch err := os.Remove(filepath.Join(profile, e.Name())); {
		case err == nil:
			removed = true
		case !errors.Is(err, fs.ErrNotExist):
			errs = append(errs, err)
		}
	}
	return removed, errors.Join(errs...)
}
