package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wad-project/wad/internal/chromeproc"
)

// ErrNotDelegated is returned (wrapped with the reason) by Delegated when
// this process has no cgroup subtree of its own to manage.
var ErrNotDelegated = errors.New("no delegated cgroup subtree")

// Limits bound one child cgroup. Zero fields are no limit.
type Limits struct {
	// MemoryMax is the hard limit in bytes: above it the kernel's OOM
	// killer kills a process of the group (v2 memory.max, v1
	// memory.limit_in_bytes).
	MemoryMax int64
	// MemoryHigh is the throttle point in bytes: above it the kernel
	// reclaims hard and slows the group down (v2 memory.high; v1 has no
	// equivalent and uses memory.soft_limit_in_bytes).
	MemoryHigh int64
	// CPUMax is how many CPUs' worth of time the group may use (1.5: one
	// and a half cores; v2 cpu.max, v1 cpu.cfs_quota_us).
	CPUMax float64
}

// cpuPeriod is the CPU bandwidth period in microseconds (the kernel's
// default); a quota of CPUMax*cpuPeriod per period is CPUMax cores.
const cpuPeriod = 100000

// Stats is what a group uses now.
type Stats struct {
	MemoryBytes int64   // memory.current (v1 memory.usage_in_bytes)
	MemoryMax   int64   // the effective limit, 0 when none
	CPUSeconds  float64 // cpu.stat usage_usec (v1 cpuacct.usage)
	Procs       int     // processes in the group
	OOMKills    int64   // processes the OOM killer killed in the group
}

// dir is a Tree's or Group's directory in one hierarchy: on v2 the only
// one (ctrls nil), on v1 one per mounted hierarchy.
type dir struct {
	path  string
	ctrls []string
}

func (d dir) has(ctrl string) bool { return d.ctrls == nil || slices.Contains(d.ctrls, ctrl) }

// Tree is a delegated subtree: the daemon's own leaf and one child group
// per browser.
type Tree struct {
	version int
	rel     string // the path /proc/self/cgroup names
	dirs    []dir

	mu   sync.Mutex
	leaf string // Enter's leaf, which New refuses
}

// Version is 2 on the unified hierarchy, 1 on v1 or hybrid hosts.
func (t *Tree) Version() int { return t.version }

// String names the subtree for logs ("/system.slice/wad.service", v2;
// v1 adds the hierarchies: "/system.slice/wad.service (v1: memory cpu
// cpuacct pids)").
func (t *Tree) String() string {
	if t.version == 2 {
		return t.rel
	}
	var cs []string
	for _, d := range t.dirs {
		cs = append(cs, d.ctrls...)
	}
	return fmt.Sprintf("%s (v1: %s)", t.rel, strings.Join(cs, " "))
}

// Enter moves the calling process (every thread) into the leaf named
// leaf and, on v2, enables the memory, cpu and pids controllers for the
// children (a cgroup with processes cannot have controlled children):
// only those the tree's cgroup.controllers offers. It fails when the
// leaf cannot be made or joined, or when the controllers cannot be
// enabled. It moves nothing when another process sits in the tree's own
// cgroup (v2 could not enable the controllers then, and this process
// would be left in a leaf of someone else's cgroup).
func (t *Tree) Enter(leaf string) error {
	if err := checkName(leaf); err != nil {
		return err
	}
	if err := t.alone(); err != nil {
		return fmt.Errorf("cgroup: %w", err)
	}
	pid := strconv.Itoa(os.Getpid())
	for _, d := range t.dirs {
		p := filepath.Join(d.path, leaf)
		if err := mkdir(p); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("cgroup: make leaf: %w", err)
		}
		if err := writeFile(filepath.Join(p, "cgroup.procs"), pid); err != nil {
			return fmt.Errorf("cgroup: enter leaf: %w", err)
		}
	}
	t.mu.Lock()
	t.leaf = leaf
	t.mu.Unlock()
	if t.version != 2 {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(t.dirs[0].path, "cgroup.controllers"))
	if err != nil {
		return fmt.Errorf("cgroup: %w", err)
	}
	have := strings.Fields(string(b))
	var enable []string
	for _, c := range []string{"memory", "cpu", "pids"} {
		if slices.Contains(have, c) {
			enable = append(enable, "+"+c)
		}
	}
	if len(enable) == 0 {
		return nil
	}
	if err := writeFile(filepath.Join(t.dirs[0].path, "cgroup.subtree_control"), strings.Join(enable, " ")); err != nil {
		return fmt.Errorf("cgroup: enable controllers %s: %w", strings.Join(enable, " "), err)
	}
	return nil
}

// New creates the child group name (replacing one a crashed daemon left,
// after killing what runs in it) with limits l. It refuses Enter's leaf
// and names that are not one path element, and fails when a limit
// cannot be written (v2: the memory controller is not enabled for the
// tree's children; v1: a quota above the parent's). A CPU limit where
// the tree has no cpu controller (v1: systemd did not realise the unit
// in the cpu hierarchy; String lists those it did) is left out.
func (t *Tree) New(name string, l Limits) (*Group, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	t.mu.Lock()
	leaf := t.leaf
	t.mu.Unlock()
	if name == leaf {
		return nil, fmt.Errorf("cgroup name %q: the daemon's own leaf", name)
	}
	g := &Group{t: t, name: name, fd: -1}
	for _, d := range t.dirs {
		g.dirs = append(g.dirs, dir{path: filepath.Join(d.path, name), ctrls: d.ctrls})
	}
	if _, err := os.Stat(g.dirs[0].path); err == nil {
		if err := g.remove(); err != nil {
			return nil, fmt.Errorf("cgroup: replace the stale %s: %w", name, err)
		}
	}
	for i, d := range g.dirs {
		if err := mkdir(d.path); err != nil {
			for _, made := range g.dirs[:i] {
				rmdir(made.path)
			}
			return nil, fmt.Errorf("cgroup: %w", err)
		}
	}
	if err := g.limit(l); err != nil {
		g.remove()
		return nil, err
	}
	if t.version == 2 {
		fd, err := unix.Open(g.dirs[0].path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			g.remove()
			return nil, fmt.Errorf("cgroup: %w", err)
		}
		g.fd = fd
	}
	return g, nil
}

// Group is one browser's cgroup.
type Group struct {
	t    *Tree
	name string
	dirs []dir
	fd   int // v2: the open directory, -1 otherwise

	mu     sync.Mutex
	closed bool
}

// Name is the group's name under the tree.
func (g *Group) Name() string { return g.name }

// FD returns an open directory descriptor of the group for
// syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd} (clone3 into the
// cgroup: the process never runs outside it). ok is false on v1 and
// where clone3 is filtered (see clone3Works): there the process joins
// the group itself before it execs (ProcsFiles), or Add moves it after
// it started; and after Close. The
// descriptor is opened O_RDONLY|O_DIRECTORY (the kernel takes an O_PATH
// one too: it looks the descriptor up raw). It stays the group's: the
// caller must not close it, and must not use it after Close.
func (g *Group) FD() (fd int, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.fd < 0 || g.closed || !clone3Works() {
		return -1, false
	}
	return g.fd, true
}

// ProcsFiles lists the group's cgroup.procs file in each hierarchy (one
// on v2). A process that writes "0" into each of them joins the group
// itself: a launcher does that right before it execs the browser where
// FD is not ok (v1; clone3 filtered), so that no byte the browser
// allocates is charged outside the group (neither v1 nor v2 moves the
// charges of a process that is moved later). Nil after Close.
func (g *Group) ProcsFiles() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil
	}
	var fs []string
	for _, d := range g.dirs {
		fs = append(fs, filepath.Join(d.path, "cgroup.procs"))
	}
	return fs
}

// clone3Works reports whether this process may call clone3, which
// SysProcAttr.UseCgroupFD needs. systemd's RestrictNamespaces= makes
// clone3 fail with ENOSYS (seccomp cannot inspect its flags), and Go does
// not fall back to clone: under wad.service FD is not ok and the
// browser joins its group through ProcsFiles instead. The probe passes
// no arguments, so no process is made: EINVAL means clone3 is there.
var clone3Works = sync.OnceValue(func() bool {
	_, _, errno := unix.Syscall(unix.SYS_CLONE3, 0, 0, 0)
	return errno != unix.ENOSYS
})

// limit writes l into the group's files.
func (g *Group) limit(l Limits) error {
	if g.t.version == 2 {
		p := g.dirs[0].path
		for _, f := range []struct {
			file, value string
			set         bool
		}{
			{"memory.max", bytesOrMax(l.MemoryMax), l.MemoryMax > 0},
			{"memory.high", bytesOrMax(l.MemoryHigh), l.MemoryHigh > 0},
			{"cpu.max", fmt.Sprintf("%s %d", quotaOrMax(l.CPUMax), cpuPeriod), l.CPUMax > 0},
		} {
			if !f.set {
				continue
			}
			err := writeFile(filepath.Join(p, f.file), f.value)
			if f.file == "cpu.max" && errors.Is(err, os.ErrNotExist) {
				continue // no cpu controller: no CPU limit
			}
			if err != nil {
				return fmt.Errorf("cgroup: set %s: %w", f.file, err)
			}
		}
		return nil
	}
	var memSet bool
	for _, d := range g.dirs {
		var files [][2]string
		if d.has("memory") {
			memSet = true
			if l.MemoryMax > 0 {
				files = append(files, [2]string{"memory.limit_in_bytes", strconv.FormatInt(l.MemoryMax, 10)})
			}
			if l.MemoryHigh > 0 {
				files = append(files, [2]string{"memory.soft_limit_in_bytes", strconv.FormatInt(l.MemoryHigh, 10)})
			}
		}
		if d.has("cpu") && l.CPUMax > 0 {
			files = append(files, [2]string{"cpu.cfs_period_us", strconv.Itoa(cpuPeriod)},
				[2]string{"cpu.cfs_quota_us", quotaOrMax(l.CPUMax)})
		}
		for _, f := range files {
			if err := writeFile(filepath.Join(d.path, f[0]), f[1]); err != nil {
				return fmt.Errorf("cgroup: set %s: %w", f[0], err)
			}
		}
	}
	if !memSet && (l.MemoryMax > 0 || l.MemoryHigh > 0) {
		return fmt.Errorf("cgroup: no memory hierarchy for the memory limit")
	}
	return nil
}

func bytesOrMax(n int64) string {
	if n <= 0 {
		return "max"
	}
	return strconv.FormatInt(n, 10)
}

// quotaOrMax is the quota in microseconds per cpuPeriod, at least the
// kernel's minimum of 1ms.
func quotaOrMax(cpus float64) string {
	if cpus <= 0 {
		return "max"
	}
	return strconv.FormatInt(max(int64(cpus*cpuPeriod), 1000), 10)
}

// Add moves pid and every descendant of it into the group (v1, or a
// process started without FD). Children forked before the move are
// found through /proc (chromeproc.Tree) and moved too; it fails when pid itself cannot be
// moved (gone, or a write refused), not when a descendant exited
// meanwhile.
func (g *Group) Add(pid int) error {
	if pid <= 0 || pid == os.Getpid() {
		return fmt.Errorf("cgroup: will not move pid %d", pid)
	}
	if err := g.move(pid); err != nil {
		return err
	}
	moved := map[int]bool{pid: true}
	// A process not yet moved may fork: look again until a pass finds
	// no new descendant.
	for range 50 {
		fresh := 0
		// The browser's descendants, and what its process group still
		// holds after a parent died.
		for _, p := range chromeproc.Tree(pid) {
			if moved[p] {
				continue
			}
			if err := g.move(p); err != nil && !errors.Is(err, syscall.ESRCH) {
				return err
			}
			moved[p] = true
			fresh++
		}
		if fresh == 0 {
			return nil
		}
	}
	return fmt.Errorf("cgroup: pid %d keeps forking faster than it can be moved", pid)
}

func (g *Group) move(pid int) error {
	s := strconv.Itoa(pid)
	for _, d := range g.dirs {
		if err := writeFile(filepath.Join(d.path, "cgroup.procs"), s); err != nil {
			return fmt.Errorf("cgroup: move pid %d: %w", pid, err)
		}
	}
	return nil
}

// Stats reads the group's usage, limit and OOM kills. Counters of a
// controller the group does not have read as zero; it fails when the
// group is gone.
func (g *Group) Stats() (Stats, error) {
	var s Stats
	procs, err := g.pids()
	if err != nil {
		return Stats{}, err
	}
	s.Procs = len(procs)
	if g.t.version == 2 {
		p := g.dirs[0].path
		s.MemoryBytes, _ = readInt(filepath.Join(p, "memory.current"))
		s.MemoryMax, _ = readInt(filepath.Join(p, "memory.max"))
		us, _ := readKey(filepath.Join(p, "cpu.stat"), "usage_usec")
		s.CPUSeconds = float64(us) / 1e6
		s.OOMKills, _ = readKey(filepath.Join(p, "memory.events"), "oom_kill")
		return s, nil
	}
	for _, d := range g.dirs {
		if d.has("memory") {
			s.MemoryBytes, _ = readInt(filepath.Join(d.path, "memory.usage_in_bytes"))
			s.MemoryMax, _ = readInt(filepath.Join(d.path, "memory.limit_in_bytes"))
			s.OOMKills, _ = readKey(filepath.Join(d.path, "memory.oom_control"), "oom_kill")
		}
		if d.has("cpuacct") {
			ns, _ := readInt(filepath.Join(d.path, "cpuacct.usage"))
			s.CPUSeconds = float64(ns) / 1e9
		}
	}
	if s.MemoryMax >= unlimited {
		s.MemoryMax = 0
	}
	return s, nil
}

// unlimited: v1 reports "no limit" as the largest page-aligned int64.
const unlimited = 1 << 62

// pids lists the processes in the group, in every hierarchy.
func (g *Group) pids() ([]int, error) {
	var all []int
	for _, d := range g.dirs {
		b, err := os.ReadFile(filepath.Join(d.path, "cgroup.procs"))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("cgroup %s: %w", g.name, errGone)
			}
			return nil, fmt.Errorf("cgroup: %w", err)
		}
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil && !slices.Contains(all, n) {
				all = append(all, n)
			}
		}
	}
	return all, nil
}

// Close kills whatever still runs in the group and removes it. It fails
// when processes survive 10s of SIGKILL or the directories cannot be
// removed; a second Close does nothing.
func (g *Group) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil
	}
	g.closed = true
	if g.fd >= 0 {
		unix.Close(g.fd)
		g.fd = -1
	}
	return g.remove()
}

// killTimeout bounds how long remove waits for killed processes to leave.
const killTimeout = 10 * time.Second

// remove kills the group's processes (cgroup.kill where the kernel has
// it, else SIGKILL to each until none is left) and removes its
// directories.
func (g *Group) remove() error {
	deadline := time.Now().Add(killTimeout)
	self := os.Getpid()
	killFile := ""
	if g.t.version == 2 {
		killFile = filepath.Join(g.dirs[0].path, "cgroup.kill")
		if _, err := os.Stat(killFile); err != nil {
			killFile = ""
		}
	}
	for {
		procs, err := g.pids()
		if errors.Is(err, errGone) {
			break
		}
		if err != nil {
			return err
		}
		if slices.Contains(procs, self) {
			return fmt.Errorf("cgroup %s holds this process: not killing it", g.name)
		}
		if len(procs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup %s: pids %v survive SIGKILL", g.name, procs)
		}
		if killFile != "" {
			writeFile(killFile, "1")
		} else {
			for _, p := range procs {
				unix.Kill(p, unix.SIGKILL)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	var errs []error
	for _, d := range slices.Backward(g.dirs) {
		for {
			err := rmdir(d.path)
			if err == nil || errors.Is(err, os.ErrNotExist) {
				break
			}
			if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
				errs = append(errs, fmt.Errorf("cgroup: remove %s: %w", d.path, err))
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return errors.Join(errs...)
}

// mkdir and rmdir make and remove a cgroup directory; tests of the v2
// file handling on a plain directory replace them with ones that add
// and remove the files the kernel would.
var (
	mkdir = func(p string) error { return os.Mkdir(p, 0o755) }
	rmdir = func(p string) error {
		if err := syscall.Rmdir(p); err != nil {
			return &os.PathError{Op: "rmdir", Path: p, Err: err}
		}
		return nil
	}
)

// writeFile writes one value into an existing cgroup file.
func writeFile(p, v string) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(v)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", v, p, err)
	}
	return nil
}

// readInt reads a file holding one number; "max" reads as 0.
func readInt(p string) (int64, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, nil
	}
	return strconv.ParseInt(s, 10, 64)
}

// readKey reads the value of "key N" in a flat-keyed file (cpu.stat,
// memory.events, memory.oom_control).
func readKey(p, key string) (int64, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if ok && k == key {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s: no %s", p, key)
}
