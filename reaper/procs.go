package reaper

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	ps "github.com/mitchellh/go-ps"
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

// proc is one process we looked at, identified by pid and start time
// (together unique for the life of the system).
type proc struct {
	pid, ppid int
	start     uint64 // clock ticks after boot (/proc/PID/stat field 22)
	exe       string // what identified it as a Chrome
	profile   string // its --user-data-dir, absolute and resolved; "" for none
	main      bool   // a browser main process (no --type= switch)
}

func (p proc) String() string {
	kind := "browser"
	if !p.main {
		kind = "child"
	}
	if p.profile == "" {
		return fmt.Sprintf("pid %d (%s %s, child of pid %d)", p.pid, filepath.Base(p.exe), kind, p.ppid)
	}
	return fmt.Sprintf("pid %d (%s %s, profile %s)", p.pid, filepath.Base(p.exe), kind, p.profile)
}

// key identifies a process across scans.
type key struct {
	pid   int
	start uint64
}

func (p proc) key() key { return key{p.pid, p.start} }

// scanOurs lists the live processes that belong to stateDir (already
// resolved): Chrome executables of our uid whose --user-data-dir resolves
// inside stateDir, plus the Chrome-executable descendants of those
// browsers (children whose own flag could not be resolved, e.g. because
// it was relative and they changed directory).
func scanOurs(stateDir string, uid int) ([]proc, error) {
	all, err := ps.Processes()
	if err != nil {
		return nil, fmt.Errorf("listing processes: %w", err)
	}
	self := os.Getpid()
	chromes := make(map[int]proc)
	children := make(map[int][]int)
	for _, p := range all {
		if p.Pid() == self {
			continue
		}
		children[p.PPid()] = append(children[p.PPid()], p.Pid())
		info, ok := inspect(p.Pid(), uid)
		if ok {
			chromes[info.pid] = info
		}
	}
	var ours []proc
	seen := make(map[int]bool)
	var adopt func(pid int)
	adopt = func(pid int) {
		for _, c := range children[pid] {
			if p, ok := chromes[c]; ok && !seen[c] {
				seen[c] = true
				ours = append(ours, p)
				adopt(c)
			}
		}
	}
	for pid, p := range chromes {
		if p.profile != "" && within(stateDir, p.profile) && !seen[pid] {
			seen[pid] = true
			ours = append(ours, p)
			adopt(pid)
		}
	}
	return ours, nil
}

// inspect reads what decides ownership of one process: it reports ok only
// for a live (non-zombie) Chrome executable running as uid. The profile is
// resolved when the process has a --user-data-dir.
func inspect(pid, uid int) (proc, bool) {
	p := proc{pid: pid}
	state, ppid, start, err := readStat(pid)
	if err != nil || state == 'Z' || state == 'X' {
		return p, false
	}
	p.ppid, p.start = ppid, start
	if u, err := realUID(pid); err != nil || u != uid {
		return p, false
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return p, false
	}
	args := splitCmdline(raw)
	exe, ok := chromeExe(pid, args)
	if !ok {
		return p, false
	}
	p.exe = exe
	p.main = isMain(args)
	if dir, ok := userDataDir(args); ok && dir != "" {
		if abs, ok := absolute(pid, dir); ok {
			p.profile = resolve(abs)
		}
	}
	// The stat line is read last again: if the pid was reused while we
	// read the rest, the start time changed and what we read may be
	// another process's.
	if _, _, again, err := readStat(pid); err != nil || again != start {
		return p, false
	}
	return p, true
}

// chromeExe decides whether a process runs a Chrome executable. The
// kernel's /proc/PID/exe is the authority (argv[0] is whatever the process
// chose); a " (deleted)" suffix (the package was upgraded under a running
// browser) is ignored. Only when exe cannot be read for lack of permission
// (a non-dumpable process of ours) does argv[0] decide.
func chromeExe(pid int, args []string) (string, bool) {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
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

// readStat parses /proc/PID/stat: state, parent pid and start time.
func readStat(pid int) (state byte, ppid int, start uint64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, 0, err
	}
	// The command name (field 2) is in parentheses and may contain
	// anything, including ") "; the fields resume after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, 0, 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	ppid, err = strconv.Atoi(f[1])
	if err != nil {
		return 0, 0, 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	start, err = strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return f[0][0], ppid, start, nil
}

// realUID reads the real uid from /proc/PID/status (the files of a
// non-dumpable process are owned by root, so stat's owner would lie).
func realUID(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				break
			}
			return strconv.Atoi(f[0])
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
			out = append(out, s)
			return out
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
	cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	if err != nil || !strings.HasPrefix(cwd, "/") {
		return "", false
	}
	return strings.TrimSuffix(cwd, "/") + "/" + dir, true
}

// resolve returns path with symlinks and ".." resolved the way the kernel
// would walk it. Path components that do not exist (a deleted profile) are
// appended to the resolved existing prefix.
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
