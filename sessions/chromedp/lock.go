package chromedp

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wad-project/wad/internal/chromeproc"
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

// clearStaleSingletons removes the Singleton* files of a profile before a
// launch, unless internal/chromeproc judges its SingletonLock held: by a
// live Chrome on this profile on this host (a leftover outside our lock,
// e.g. started by hand), or by another host (which may be using the
// profile over a shared filesystem). Then nothing is touched and the error
// wraps errProfileLocked, naming the holder. A stale lock, an unrecognised
// one (Chrome would discard it itself) and Singleton* files without a lock
// are removed. It reports whether it removed anything; any other error is
// reading the lock or removing a file.
func clearStaleSingletons(dir string) (bool, error) {
	l, err := chromeproc.ReadLock(dir)
	if err != nil {
		return false, err
	}
	switch l.Status {
	case chromeproc.LockForeign:
		return false, fmt.Errorf("%w: profile %s has a SingletonLock of host %q (pid %d); if no browser runs there, delete %s",
			errProfileLocked, dir, l.Host, l.PID, filepath.Join(dir, chromeproc.LockName))
	case chromeproc.LockLive:
		return false, fmt.Errorf("%w: profile %s is in use by a browser outside wad's control: pid %d (%s)",
			errProfileLocked, dir, l.PID, l.Holder)
	}
	return chromeproc.RemoveSingletons(dir)
}
