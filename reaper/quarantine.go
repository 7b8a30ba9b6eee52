package reaper

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/wad-project/wad/internal/chromeproc"
	"golang.org/x/sys/unix"
)

// The quarantine: where reset mode puts the logins it finds instead of
// deleting them, so that the daemon can unlink them from WhatsApp first
// (sessions.Unlinker). Each reset that finds logins makes one directory
// <state>/UnlinkDir/<stamp>/ (mode 0700, like everything in it), with one
// subdirectory per backend, named after it, holding that backend's
// logins as they were in .wwebjs_auth. Sessions never see a quarantine:
// the daemon only unlinks and deletes what is in it.
const (
	// UnlinkDir is the directory of the quarantines, under the state
	// directory.
	UnlinkDir = ".wad-unlink"
	// WhatsmeowPart holds the whatsmeow device store (WhatsmeowStore and
	// its -wal and -shm files).
	WhatsmeowPart = "whatsmeow"
	// ChromedpPart holds the chromedp profiles (ProfilePrefix<client>)
	// that hold a login (LoginMarker).
	ChromedpPart = "chromedp"
	// WhatsmeowStore is the whatsmeow device store in .wwebjs_auth.
	WhatsmeowStore = "whatsmeow.db"
	// ProfilePrefix starts the name of a chromedp profile directory in
	// .wwebjs_auth (the whatsapp-web.js LocalAuth layout).
	ProfilePrefix = "session-"
	// LoginMarker is the file in a chromedp profile that holds a
	// completed login; profiles without it showed a QR code at most and
	// are removed.
	LoginMarker = chromeproc.LoginMarker
)

// whatsmeowFiles are the store's files, moved together.
var whatsmeowFiles = []string{WhatsmeowStore, WhatsmeowStore + "-wal", WhatsmeowStore + "-shm"}

// stampLayout names a quarantine by the UTC time it was made; a second
// one in the same second gets "-2", "-3", ... appended.
const stampLayout = "20060102T150405Z"

// maxStampTries bounds the names tried for one quarantine.
const maxStampTries = 1000

// QuarantineTime returns the time a quarantine was made, read from its
// name, and false for a name that is not a quarantine's.
func QuarantineTime(name string) (time.Time, bool) {
	if len(name) < len(stampLayout) {
		return time.Time{}, false
	}
	t, err := time.Parse(stampLayout, name[:len(stampLayout)])
	if err != nil {
		return time.Time{}, false
	}
	if rest := name[len(stampLayout):]; rest != "" {
		n, ok := strings.CutPrefix(rest, "-")
		if _, err := strconv.Atoi(n); !ok || err != nil || strings.HasPrefix(n, "+") {
			return time.Time{}, false
		}
	}
	return t, true
}

// login is an entry of .wwebjs_auth that holds a login.
type login struct {
	name  string // its name in .wwebjs_auth
	part  string // the quarantine subdirectory it goes to
	count bool   // counts in Summary.Quarantined (a store's -wal does not)
}

// findLogins returns the entries of the auth directory open as authFd
// that hold logins: the whatsmeow store's files and the chromedp profiles
// with a login marker, each a regular file or directory (a symlink is
// never a login, nor is a marker that is one). An entry that cannot be
// examined is returned in unsure with the error: it is neither moved nor
// removed.
func findLogins(authFd int, authPath string, names []string) (logins []login, unsure []string, errs []error) {
	for _, n := range whatsmeowFiles {
		var st unix.Stat_t
		err := unix.Fstatat(authFd, n, &st, unix.AT_SYMLINK_NOFOLLOW)
		switch {
		case err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG:
			logins = append(logins, login{name: n, part: WhatsmeowPart, count: n == WhatsmeowStore})
		case err != nil && !errors.Is(err, unix.ENOENT):
			unsure = append(unsure, n)
			errs = append(errs, &os.PathError{Op: "lstat", Path: authPath + "/" + n, Err: err})
		}
	}
	for _, n := range names {
		if !strings.HasPrefix(n, ProfilePrefix) {
			continue
		}
		path := authPath + "/" + n
		var st unix.Stat_t
		if err := unix.Fstatat(authFd, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			continue // gone, or a link or file: removed as such
		}
		fd, err := unix.Openat(authFd, n, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			if !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ELOOP) && !errors.Is(err, unix.ENOTDIR) {
				unsure = append(unsure, n)
				errs = append(errs, &os.PathError{Op: "open", Path: path, Err: err})
			}
			continue
		}
		err = unix.Fstatat(fd, LoginMarker, &st, unix.AT_SYMLINK_NOFOLLOW)
		unix.Close(fd)
		switch {
		case err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG:
			logins = append(logins, login{name: n, part: ChromedpPart, count: true})
		case err != nil && !errors.Is(err, unix.ENOENT):
			unsure = append(unsure, n)
			errs = append(errs, &os.PathError{Op: "lstat", Path: path + "/" + LoginMarker, Err: err})
		}
	}
	return logins, unsure, errs
}

// resetAuth is reset mode's treatment of .wwebjs_auth: the logins in it
// go to a new quarantine, everything else is removed, and so is the
// directory unless a login could not be moved (that one stays, and the
// error says so: a login is never deleted before it is unlinked). A
// symlinked or non-directory .wwebjs_auth holds no login of ours and is
// removed as an entry, never followed.
func (r *run) resetAuth(stateFd int) error {
	authPath := filepath.Join(r.dir, AuthDir)
	authFd, err := unix.Openat(stateFd, AuthDir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	switch {
	case err == nil:
	case errors.Is(err, unix.ENOENT):
		return nil
	case errors.Is(err, unix.ELOOP), errors.Is(err, unix.ENOTDIR):
		return r.remove(stateFd, AuthDir)
	default:
		return &os.PathError{Op: "open", Path: authPath, Err: err}
	}
	dir := os.NewFile(uintptr(authFd), authPath)
	defer dir.Close()
	var errs []error
	var st unix.Stat_t
	if err := unix.Fstat(authFd, &st); err != nil {
		return &os.PathError{Op: "fstat", Path: authPath, Err: err}
	}
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return &os.PathError{Op: "readdir", Path: authPath, Err: err}
	}

	logins, unsure, ferrs := findLogins(authFd, authPath, names)
	errs = append(errs, ferrs...)
	keep := make(map[string]bool)
	for _, n := range unsure {
		keep[n] = true
	}
	moved, err := r.quarantine(stateFd, authFd, authPath, logins)
	if err != nil {
		errs = append(errs, err)
	}
	for _, l := range logins {
		if !moved[l.name] {
			keep[l.name] = true
			r.log.Error("Keeping a login that could not be quarantined; it is deleted only once it can be unlinked", "path", authPath+"/"+l.name)
		}
	}

	var t tally
	for _, n := range names {
		if !moved[n] && !keep[n] {
			removeAt(authFd, n, authPath+"/"+n, st.Dev, r.o.DryRun, &t)
		}
	}
	if len(keep) == 0 {
		if r.o.DryRun {
			t.entries++
		} else if err := unix.Unlinkat(stateFd, AuthDir, unix.AT_REMOVEDIR); err == nil {
			t.entries++
		} else if !errors.Is(err, unix.ENOENT) {
			t.fail(&os.PathError{Op: "rmdir", Path: authPath, Err: err})
		}
	}
	r.removed(authPath, &t)
	if err := t.err(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// quarantine moves logins out of the auth directory open as authFd into
// a new quarantine and returns the names it moved (in a dry run, would
// move). Every step is relative to a directory already open, no symlink
// is followed, and the quarantine's directories are created 0700 and
// must be ours; rename(2) keeps it on the state directory's filesystem.
func (r *run) quarantine(stateFd, authFd int, authPath string, logins []login) (map[string]bool, error) {
	moved := make(map[string]bool)
	if len(logins) == 0 {
		return moved, nil
	}
	rootPath := filepath.Join(r.dir, UnlinkDir)
	stamp := r.now().UTC().Format(stampLayout)
	if r.o.DryRun {
		for _, l := range logins {
			fmt.Fprintf(r.out, "would move %s to %s (to unlink it at the next start)\n",
				authPath+"/"+l.name, filepath.Join(rootPath, stamp, l.part, l.name))
			moved[l.name] = true
			if l.count {
				r.s.Quarantined++
			}
		}
		return moved, nil
	}
	rootFd, err := r.ownDir(stateFd, UnlinkDir, rootPath, true)
	if err != nil {
		return moved, fmt.Errorf("quarantine for logins to unlink: %w", err)
	}
	defer unix.Close(rootFd)
	var qName string
	for i := 1; i <= maxStampTries && qName == ""; i++ {
		name := stamp
		if i > 1 {
			name += "-" + strconv.Itoa(i)
		}
		switch err := unix.Mkdirat(rootFd, name, 0o700); {
		case err == nil:
			qName = name
		case !errors.Is(err, unix.EEXIST):
			return moved, &os.PathError{Op: "mkdir", Path: filepath.Join(rootPath, name), Err: err}
		}
	}
	if qName == "" {
		return moved, fmt.Errorf("quarantine for logins to unlink: no free name for %s in %s", stamp, rootPath)
	}
	qPath := filepath.Join(rootPath, qName)
	qFd, err := r.ownDir(rootFd, qName, qPath, false)
	if err != nil {
		return moved, err
	}
	defer unix.Close(qFd)
	parts := make(map[string]int)
	defer func() {
		for _, fd := range parts {
			unix.Close(fd)
		}
	}()
	var errs []error
	for _, l := range logins {
		partPath := filepath.Join(qPath, l.part)
		pfd, ok := parts[l.part]
		if !ok {
			if pfd, err = r.ownDir(qFd, l.part, partPath, true); err != nil {
				errs = append(errs, err)
				continue
			}
			parts[l.part] = pfd
		}
		if err := unix.Renameat(authFd, l.name, pfd, l.name); err != nil {
			errs = append(errs, &os.LinkError{Op: "rename", Old: authPath + "/" + l.name, New: partPath + "/" + l.name, Err: err})
			continue
		}
		moved[l.name] = true
		if l.count {
			r.s.Quarantined++
		}
		r.log.Info("Quarantined a login to unlink at the next start", "from", authPath+"/"+l.name, "to", partPath+"/"+l.name)
	}
	if len(moved) == 0 {
		// Leave no empty quarantine behind.
		for name := range parts {
			unix.Unlinkat(qFd, name, unix.AT_REMOVEDIR)
		}
		unix.Unlinkat(rootFd, qName, unix.AT_REMOVEDIR)
	}
	return moved, errors.Join(errs...)
}

// ownDir opens the directory name of the directory open as parent,
// creating it (mode 0700) first if create is set. It must be a real
// directory (not a symlink) owned by the running uid; its mode is set to
// 0700.
func (r *run) ownDir(parent int, name, path string, create bool) (int, error) {
	if create {
		if err := unix.Mkdirat(parent, name, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
			return -1, &os.PathError{Op: "mkdir", Path: path, Err: err}
		}
	}
	fd, err := unix.Openat(parent, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return -1, fmt.Errorf("%s: not a directory (a symlink or a file); not using it", path)
		}
		return -1, &os.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	if int(st.Uid) != r.uid {
		unix.Close(fd)
		return -1, fmt.Errorf("%s: owned by uid %d, not by the running uid %d; not using it", path, st.Uid, r.uid)
	}
	if st.Mode&0o7777 != 0o700 {
		if err := unix.Fchmod(fd, 0o700); err != nil {
			unix.Close(fd)
			return -1, &os.PathError{Op: "chmod", Path: path, Err: err}
		}
	}
	return fd, nil
}
