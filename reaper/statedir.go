package reaper

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// ErrRefused is wrapped by every error that stops Run before it touches
// anything because the state directory cannot be ours.
var ErrRefused = errors.New("refusing to clean")

// checkStateDir returns the state directory with symlinks resolved, or an
// error wrapping ErrRefused when it is not absolute, missing, not a
// directory, "/", the user's home directory, or not owned by uid.
func checkStateDir(dir string, uid int) (string, error) {
	refuse := func(format string, a ...any) error {
		return fmt.Errorf("%w state dir %q: %s", ErrRefused, dir, fmt.Sprintf(format, a...))
	}
	if dir == "" || !filepath.IsAbs(dir) {
		return "", refuse("not an absolute path")
	}
	resolved, err := filepath.EvalSymlinks(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", refuse("it does not exist")
		}
		return "", refuse("%v", err)
	}
	if resolved == "/" {
		return "", refuse("it is the root directory")
	}
	for _, home := range homes(uid) {
		if h, err := filepath.EvalSymlinks(home); err == nil && h == resolved {
			return "", refuse("it is the home directory %s", home)
		}
	}
	fi, err := os.Lstat(resolved)
	if err != nil {
		return "", refuse("%v", err)
	}
	if !fi.IsDir() {
		return "", refuse("not a directory")
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "", refuse("cannot read its owner")
	}
	if int(st.Uid) != uid {
		return "", refuse("owned by uid %d, not by the running uid %d", st.Uid, uid)
	}
	return resolved, nil
}

// homes lists what counts as the running user's home directory: $HOME
// and the passwd entry's, which differ under some service managers.
func homes(uid int) []string {
	var out []string
	if h := os.Getenv("HOME"); h != "" {
		out = append(out, h)
	}
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil && u.HomeDir != "" {
		out = append(out, u.HomeDir)
	}
	return out
}
