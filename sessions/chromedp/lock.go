package chromedp

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// LockFile is the name of the lock file inside a profile directory. wad
// holds an exclusive flock on it while a browser runs on the profile; the
// file's content names the holder for the error a second daemon gets. It
// lives inside the profile so that logout and the reaper's reset remove it
// with the profile; a lock file without a lock on it means nothing.
const LockFile = "wad.lock"

// profileLock is an exclusive flock on a profile directory.
type profileLock struct {
	f *os.File
}

// errProfileLocked is returned (wrapped) when another process holds a
// profile.
var errProfileLocked = errors.New("profile in use")

// lockProfile takes the profile lock without waiting. When another
// process holds it, the error wraps errProfileLocked and names the holder
// as far as it can be known (pid, command, since when).
func lockProfile(dir string) (*profileLock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating profile directory: %w", err)
	}
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening profile lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		holder := describeHolder(f)
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: profile %s is locked by %s", errProfileLocked, dir, holder)
		}
		return nil, fmt.Errorf("locking profile %s: %w", dir, err)
	}
	// Name ourselves for whoever finds the lock taken.
	exe, _ := os.Executable()
	info := fmt.Sprintf("pid=%d\nexe=%s\nsince=%s\n", os.Getpid(), exe, time.Now().UTC().Format(time.RFC3339))
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(info), 0)
	}
	return &profileLock{f: f}, nil
}

// describeHolder reads the holder's self-description from the lock file.
func describeHolder(f *os.File) string {
	b := make([]byte, 512)
	n, _ := f.ReadAt(b, 0)
	fields := map[string]string{}
	for _, line := range strings.Split(string(b[:n]), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			fields[k] = v
		}
	}
	pid := fields["pid"]
	if pid == "" {
		return "another process (holder unknown)"
	}
	s := "process " + pid
	if comm, err := os.ReadFile("/proc/" + pid + "/comm"); err == nil {
		s += " (" + strings.TrimSpace(string(comm)) + ")"
	} else if fields["exe"] != "" {
		s += " (" + filepath.Base(fields["exe"]) + ")"
	}
	if fields["since"] != "" {
		s += " since " + fields["since"]
	}
	return s
}

// unlock releases the lock. It is safe on nil and to call twice.
func (l *profileLock) unlock() {
	if l == nil || l.f == nil {
		return
	}
	_ = unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
	l.f.Close()
	l.f = nil
}

// singletonFiles are the files Chromium keeps in a profile it runs on.
var singletonFiles = []string{"SingletonLock", "SingletonSocket", "SingletonCookie"}

// clearStaleSingletons removes the Singleton* files of a dead browser on
// this host before a launch. SingletonLock is a symlink to
// "<hostname>-<pid>". When that browser is alive on this host (a leftover
// outside our lock, e.g. started by hand), nothing is touched and the
// error wraps errProfileLocked naming it; when it belongs to another host,
// nothing is touched either (that host may be using the profile over a
// shared filesystem). It reports whether it removed anything.
func clearStaleSingletons(dir string) (bool, error) {
	target, err := os.Readlink(filepath.Join(dir, "SingletonLock"))
	if errors.Is(err, os.ErrNotExist) {
		// No lock; a lone socket/cookie link is stale by definition.
		return removeSingletons(dir), nil
	}
	if err != nil {
		// Not a symlink: not Chromium's; remove to let Chromium start.
		return removeSingletons(dir), nil
	}
	i := strings.LastIndexByte(target, '-')
	if i < 0 {
		return removeSingletons(dir), nil
	}
	host, pidStr := target[:i], target[i+1:]
	pid, err := strconv.Atoi(pidStr)
	if err != nil {
		return removeSingletons(dir), nil
	}
	me, _ := os.Hostname()
	if host != me {
		return false, fmt.Errorf("%w: profile %s has a SingletonLock of host %q (pid %d); if no browser runs there, delete %s",
			errProfileLocked, dir, host, pid, filepath.Join(dir, "SingletonLock"))
	}
	if browserUsing(pid, dir) {
		return false, fmt.Errorf("%w: profile %s is in use by a browser outside wad's control: pid %d (%s)",
			errProfileLocked, dir, pid, procComm(pid))
	}
	return removeSingletons(dir), nil
}

func removeSingletons(dir string) bool {
	removed := false
	for _, name := range singletonFiles {
		if err := os.Remove(filepath.Join(dir, name)); err == nil {
			removed = true
		}
	}
	return removed
}

// browserUsing reports whether pid is a live process whose command line
// names dir as its user data directory (so a recycled pid does not count).
func browserUsing(pid int, dir string) bool {
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || len(cmdline) == 0 {
		return false
	}
	if st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
		if s := string(st); strings.Contains(s[strings.LastIndexByte(s, ')')+1:], " Z ") {
			return false // a zombie holds nothing
		}
	}
	abs, _ := filepath.Abs(dir)
	for _, arg := range strings.Split(string(cmdline), "\x00") {
		if v, ok := strings.CutPrefix(arg, "--user-data-dir="); ok {
			va, _ := filepath.Abs(v)
			return va == abs
		}
	}
	return false
}

func procComm(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}
