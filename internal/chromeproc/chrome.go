package chromeproc

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// chromeNames are the executable base names of Chrome and Chromium builds
// on Linux: Debian's /usr/lib/chromium/chromium, Ubuntu's and the snap's
// chromium-browser and .../chrome, Google's /opt/google/chrome/chrome and
// its wrapper names, and the headless shell. Every process a browser starts
// (zygotes, renderers, GPU and utility processes) runs the same executable.
// chrome_crashpad_handler is deliberately absent: it carries no
// --user-data-dir, is shared by no profile in particular, and exits by
// itself when its browser is gone.
var chromeNames = map[string]bool{
	"chromium":               true,
	"chromium-browser":       true,
	"chrome":                 true,
	"google-chrome":          true,
	"google-chrome-stable":   true,
	"google-chrome-beta":     true,
	"google-chrome-unstable": true,
	"chrome-headless-shell":  true,
	"headless_shell":         true,
}

// Chrome is a live process running a Chrome executable.
type Chrome struct {
	Proc
	// Exe is what identified it as a Chrome: the kernel's
	// /proc/PID/exe, or argv[0] when that cannot be read.
	Exe string
	// Profile is its --user-data-dir made absolute (against the
	// process's working directory) with symlinks and ".." resolved; ""
	// when it has none, or one that cannot be resolved.
	Profile string
	// Main is true for a browser main process (no --type= switch).
	Main bool

	hasDir bool // it has a non-empty --user-data-dir (Profile may still be "")
}

func (c Chrome) String() string {
	kind := "browser"
	if !c.Main {
		kind = "child"
	}
	if c.Profile == "" {
		return fmt.Sprintf("pid %d (%s %s, child of pid %d)", c.PID, filepath.Base(c.Exe), kind, c.PPID)
	}
	return fmt.Sprintf("pid %d (%s %s, profile %s)", c.PID, filepath.Base(c.Exe), kind, c.Profile)
}

// Ours lists the live Chrome processes that belong to dir: Chrome
// executables whose real uid is our effective uid and whose
// --user-data-dir resolves to dir or below it (dir is made absolute and
// resolved first), plus the Chrome-executable descendants of those
// (children whose own flag could not be resolved, e.g. a relative one
// after they changed directory). Our own process is never listed. The
// error says the process list could not be read; a process that cannot
// be inspected (it exited, or is not ours) is left out.
func Ours(dir string) ([]Chrome, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	dir = resolve(abs)
	all, err := Processes()
	if err != nil {
		return nil, err
	}
	uid, self := os.Geteuid(), os.Getpid()
	chromes := make(map[int]Chrome)
	children := make(map[int][]int)
	for _, p := range all {
		if p.PID == self {
			continue
		}
		children[p.PPID] = append(children[p.PPID], p.PID)
		if c, ok := inspect(p, uid); ok {
			chromes[c.PID] = c
		}
	}
	var ours []Chrome
	seen := make(map[int]bool)
	var adopt func(pid int)
	adopt = func(pid int) {
		for _, k := range children[pid] {
			if c, ok := chromes[k]; ok && !seen[k] {
				seen[k] = true
				ours = append(ours, c)
				adopt(k)
			}
		}
	}
	for _, p := range all { // in process-list order, so the result is stable
		c, ok := chromes[p.PID]
		if ok && c.Profile != "" && within(dir, c.Profile) && !seen[c.PID] {
			seen[c.PID] = true
			ours = append(ours, c)
			adopt(c.PID)
		}
	}
	return ours, nil
}

// inspect reads what decides whether p is a Chrome and on which profile.
// With uid >= 0, only a process whose real uid is uid qualifies. ok is
// false for anything but a live Chrome executable, and when p.PID stopped
// naming p while it was read.
func inspect(p Proc, uid int) (c Chrome, ok bool) {
	c.Proc = p
	if !p.live() {
		return c, false
	}
	if uid >= 0 {
		if u, err := realUID(p.PID); err != nil || u != uid {
			return c, false
		}
	}
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(p.PID) + "/cmdline")
	if err != nil {
		return c, false
	}
	args := splitCmdline(raw)
	exe, ok := chromeExe(p.PID, args)
	if !ok {
		return c, false
	}
	c.Exe = exe
	c.Main = isMain(args)
	if dir, ok := userDataDir(args); ok && dir != "" {
		c.hasDir = true
		if abs, ok := absolute(p.PID, dir); ok {
			c.Profile = resolve(abs)
		}
	}
	// If the pid was reused while we read, the start time changed and
	// what we read may be another process's.
	return c, p.Same()
}

// chromeExe decides whether a process runs a Chrome executable. The
// kernel's /proc/PID/exe is the authority (argv[0] is whatever the process
// chose); a " (deleted)" suffix (the package was upgraded under a running
// browser) is ignored. Only when exe cannot be read for lack of permission
// (a non-dumpable process, or another user's) does argv[0] decide.
func chromeExe(pid int, args []string) (string, bool) {
	exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	if err == nil {
		exe = strings.TrimSuffix(exe, " (deleted)")
		return exe, chromeNames[filepath.Base(exe)]
	}
	if !errors.Is(err, fs.ErrPermission) || len(args) == 0 {
		return "", false
	}
	argv0, _, _ := strings.Cut(args[0], " ") // a rewritten title keeps argv[0] first
	return argv0, chromeNames[filepath.Base(argv0)]
}

// realUID reads the real uid from /proc/PID/status (the files of a
// non-dumpable process are owned by root, so stat's owner would lie).
func realUID(pid int) (int, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				return strconv.Atoi(f[0])
			}
			break
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no Uid line", pid)
}

// splitCmdline splits /proc/PID/cmdline at its NUL separators.
func splitCmdline(raw []byte) []string {
	raw = bytes.TrimRight(raw, "\x00")
	if len(raw) == 0 {
		return nil
	}
	return strings.Split(string(raw), "\x00")
}

// switchValue looks for one Chrome switch the way Chrome parses its
// command line: "--name=value" or "-name=value" anywhere before a "--"
// argument, the last occurrence winning. "--name value" (two arguments,
// which Chrome itself reads as an empty switch and a URL) is accepted too,
// because wrappers and operators write it. Chrome's zygote children
// rewrite their title, so /proc shows one argument with the switches
// separated by spaces; that form is split at " -" boundaries, which keeps
// values that contain spaces (paths, the crash reporter's annotation)
// whole.
func switchValue(args []string, name string) (string, bool) {
	if len(args) == 1 && strings.Contains(args[0], " -") {
		args = splitTitle(args[0])
	}
	var val string
	found := false
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		var rest string
		switch {
		case strings.HasPrefix(a, "--"):
			rest = a[2:]
		case strings.HasPrefix(a, "-"):
			rest = a[1:]
		default:
			continue
		}
		if v, ok := strings.CutPrefix(rest, name+"="); ok {
			val, found = v, true
		} else if v, ok := strings.CutPrefix(rest, name+" "); ok {
			val, found = v, true // "--name value" inside a rewritten title
		} else if rest == name {
			if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				val, found = args[i+1], true
				i++
			} else {
				val, found = "", true
			}
		}
	}
	return val, found
}

// splitTitle splits a rewritten process title into arguments: a new
// argument starts at every space followed by '-'. A value written as
// "--name value" stays glued to its switch ("--name value").
func splitTitle(s string) []string {
	var out []string
	for {
		i := strings.Index(s, " -")
		if i < 0 {
			return append(out, s)
		}
		out = append(out, s[:i])
		s = s[i+1:]
	}
}

// userDataDir returns the --user-data-dir switch value.
func userDataDir(args []string) (string, bool) {
	return switchValue(args, "user-data-dir")
}

// isMain reports whether the arguments are a browser main process's: Chrome
// marks every process it spawns with --type=.
func isMain(args []string) bool {
	_, child := switchValue(args, "type")
	return !child
}

// absolute makes a relative --user-data-dir absolute against the
// process's working directory, as Chrome does at startup.
func absolute(pid int, dir string) (string, bool) {
	if strings.HasPrefix(dir, "/") {
		return dir, true
	}
	cwd, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/cwd")
	if err != nil || !strings.HasPrefix(cwd, "/") {
		return "", false
	}
	return strings.TrimSuffix(cwd, "/") + "/" + dir, true
}

// resolve returns the absolute path with symlinks and ".." resolved the
// way the kernel would walk it. Path components that do not exist (a
// deleted profile) are appended to the resolved existing prefix.
func resolve(path string) string {
	if r, err := filepath.EvalSymlinks(path); err == nil {
		return r
	}
	path = strings.TrimRight(path, "/")
	i := strings.LastIndexByte(path, '/')
	if i <= 0 {
		return filepath.Clean("/" + path[i+1:])
	}
	return filepath.Join(resolve(path[:i]), path[i+1:])
}

// within reports whether path is dir or lies below it; both must be clean
// absolute paths.
func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	if err != nil {
		return false
	}
	return rel == "." || (rel != ".." && !strings.HasPrefix(rel, "../"))
}
