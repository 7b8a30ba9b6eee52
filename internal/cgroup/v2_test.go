package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeV2 lays out a cgroup2 mount in a temporary directory holding the
// unit's cgroup /system.slice/wad.service, makes mkdir and rmdir add and
// remove the files the kernel would, and returns a host seeing it.
func fakeV2(t *testing.T) (host, string) {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"cgroup.procs":           "",
		"cgroup.controllers":     "cpuset cpu io memory pids",
		"cgroup.subtree_control": "",
		"cgroup.kill":            "",
		"memory.max":             "max",
		"memory.high":            "max",
		"memory.current":         "123456",
		"memory.events":          "low 0\nhigh 2\nmax 5\noom 1\noom_kill 1\noom_group_kill 0\n",
		"cpu.max":                "max 100000",
		"cpu.stat":               "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n",
	}
	fake := func(p string) error {
		if err := os.Mkdir(p, 0o755); err != nil {
			return err
		}
		for f, v := range files {
			if err := os.WriteFile(filepath.Join(p, f), []byte(v), 0o644); err != nil {
				return err
			}
		}
		return nil
	}
	for _, p := range []string{root + "/system.slice", root + "/system.slice/wad.service"} {
		if err := fake(p); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(root+"/cgroup.controllers", []byte("cpuset cpu io memory pids\n"), 0o644)
	oldMk, oldRm := mkdir, rmdir
	mkdir, rmdir = fake, os.RemoveAll
	t.Cleanup(func() { mkdir, rmdir = oldMk, oldRm })
	h := host{
		root:       root,
		selfCgroup: func() ([]byte, error) { return []byte("0::/system.slice/wad.service\n"), nil },
		getenv:     func(k string) string { return map[string]string{"INVOCATION_ID": "abc"}[k] },
		euid:       os.Geteuid(),
	}
	return h, root + "/system.slice/wad.service"
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestV2WritesWhereTheKernelExpects prevents the v2 file handling going
// wrong where no test host has v2 controllers: Enter moves this process
// into the leaf and only then enables the offered controllers, New writes
// memory.max, memory.high and cpu.max ("quota period"), Stats reads the
// v2 files, Close removes the group.
func TestV2WritesWhereTheKernelExpects(t *testing.T) {
	h, unit := fakeV2(t)
	h.euid = 4242 // a service user: ownership is what counts
	os.Lchown(unit, 4242, 4242)
	tree, err := h.delegated()
	if err != nil {
		t.Fatal(err)
	}
	if tree.Version() != 2 || tree.String() != "/system.slice/wad.service" {
		t.Errorf("tree %d %q", tree.Version(), tree)
	}
	if err := tree.Enter("daemon"); err != nil {
		t.Fatal(err)
	}
	if got := read(t, unit+"/daemon/cgroup.procs"); got != strconv.Itoa(os.Getpid()) {
		t.Errorf("leaf cgroup.procs = %q, want this pid", got)
	}
	if got := read(t, unit+"/cgroup.subtree_control"); got != "+memory +cpu +pids" {
		t.Errorf("cgroup.subtree_control = %q", got)
	}
	if read(t, unit+"/cgroup.procs") != "" {
		t.Error("Enter wrote into the tree's own cgroup.procs")
	}
	g, err := tree.New("s1", Limits{MemoryMax: 512 << 20, MemoryHigh: 384 << 20, CPUMax: 1.5})
	if err != nil {
		t.Fatal(err)
	}
	for f, want := range map[string]string{
		"memory.max":  "536870912",
		"memory.high": "402653184",
		"cpu.max":     "150000 100000",
	} {
		if got := read(t, unit+"/s1/"+f); got != want {
			t.Errorf("%s = %q, want %q", f, got, want)
		}
	}
	if fd, ok := g.FD(); !ok || fd < 0 {
		t.Errorf("FD = %d, %v", fd, ok)
	}
	os.WriteFile(unit+"/s1/cgroup.procs", []byte("101\n102\n"), 0o644)
	st, err := g.Stats()
	// The fake's memory.max was just written: 512 MiB.
	want := Stats{MemoryBytes: 123456, MemoryMax: 512 << 20, CPUSeconds: 2.5, Procs: 2, OOMKills: 1}
	if err != nil || st != want {
		t.Errorf("Stats = %+v, %v; want %+v", st, err, want)
	}
	os.WriteFile(unit+"/s1/cgroup.procs", nil, 0o644)
	// No limits: nothing written, the kernel's "max" stays.
	g2, err := tree.New("s2", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if got := read(t, unit+"/s2/cpu.max"); got != "max 100000" {
		t.Errorf("unlimited cpu.max = %q", got)
	}
	if st, _ := g2.Stats(); st.MemoryMax != 0 {
		t.Errorf("unlimited MemoryMax = %d", st.MemoryMax)
	}
	// A leftover from a crashed daemon is replaced.
	os.WriteFile(unit+"/s2/memory.max", []byte("999"), 0o644)
	if _, err := tree.New("s2", Limits{}); err != nil {
		t.Fatal(err)
	}
	if got := read(t, unit+"/s2/memory.max"); got != "max" {
		t.Errorf("replaced group's memory.max = %q", got)
	}
	for _, bad := range []string{"daemon", "..", "a/b", "", "cgroup.procs", ".control"} {
		if _, err := tree.New(bad, Limits{}); err == nil {
			t.Errorf("New(%q) succeeded", bad)
		}
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(unit + "/s1"); !os.IsNotExist(err) {
		t.Errorf("s1 left after Close: %v", err)
	}
	if _, ok := g.FD(); ok {
		t.Error("FD ok after Close")
	}
}

// TestV2EnterSkipsControllersNotOffered prevents Enter failing where the
// parent did not pass a controller down: it enables only those listed in
// cgroup.controllers.
func TestV2EnterSkipsControllersNotOffered(t *testing.T) {
	_, unit := fakeV2(t)
	os.WriteFile(unit+"/cgroup.controllers", []byte("memory io\n"), 0o644)
	tree := &Tree{version: 2, rel: "/system.slice/wad.service", dirs: []dir{{path: unit}}}
	if err := tree.Enter("daemon"); err != nil {
		t.Fatal(err)
	}
	if got := read(t, unit+"/cgroup.subtree_control"); got != "+memory" {
		t.Errorf("cgroup.subtree_control = %q", got)
	}
}

// TestDelegatedSaysWhyNot prevents the daemon taking a cgroup that is not
// its own (a root test runner, a developer's shell) and makes the one log
// line say which condition failed.
func TestDelegatedSaysWhyNot(t *testing.T) {
	t.Setenv("INVOCATION_ID", "")
	_, err := Delegated()
	if !errors.Is(err, ErrNotDelegated) || !strings.Contains(err.Error(), "INVOCATION_ID") {
		t.Errorf("without INVOCATION_ID: %v", err)
	}
	if os.Geteuid() == 0 {
		// This test process is no service: as root, the memory cgroup
		// must be the unit's own.
		t.Setenv("INVOCATION_ID", "0123")
		if tree, err := Delegated(); !errors.Is(err, ErrNotDelegated) {
			t.Errorf("the test process got a tree: %v, %v", tree, err)
		} else {
			t.Logf("as root: %v", err)
		}
	}

	h, unit := fakeV2(t)
	h.euid = 4242
	if _, err := h.delegated(); !errors.Is(err, ErrNotDelegated) || !strings.Contains(err.Error(), fmt.Sprintf("owned by uid %d", os.Geteuid())) {
		t.Errorf("v2 directory of another user: %v", err)
	}
	h.euid = os.Geteuid()
	if h.euid == 0 {
		if _, err := h.delegated(); !errors.Is(err, ErrNotDelegated) || !strings.Contains(err.Error(), "trusted.delegate") {
			t.Errorf("v2 as root without the mark: %v", err)
		}
		if err := unix.Setxattr(unit, "trusted.delegate", []byte("1"), 0); err != nil {
			t.Skipf("cannot set trusted.delegate here: %v", err)
		}
		if _, err := h.delegated(); err != nil {
			t.Errorf("v2 as root with the mark: %v", err)
		}
	}
	h.selfCgroup = func() ([]byte, error) { return []byte("0::/\n"), nil }
	if _, err := h.delegated(); !errors.Is(err, ErrNotDelegated) || !strings.Contains(err.Error(), "root cgroup") {
		t.Errorf("v2 root cgroup: %v", err)
	}
}

// TestV2CloneIntoGroup checks on the real kernel what the fake cannot:
// the descriptor FD returns works for clone3, the child is born in the group, Stats counts it and Close kills it
// with cgroup.kill and removes the directory. It runs on the hybrid
// host's controller-less cgroup2 mount.
func TestV2CloneIntoGroup(t *testing.T) {
	needRoot(t)
	mount := realHost().unifiedMount()
	if mount == "" {
		t.Skip("no cgroup2 mount")
	}
	own := cgroupOf(t, os.Getpid())[""]
	base := filepath.Join(mount, own, fmt.Sprintf("wadtest-%d", os.Getpid()))
	if err := os.Mkdir(base, 0o755); err != nil {
		t.Skipf("cannot make a cgroup2 directory: %v", err)
	}
	t.Cleanup(func() { syscall.Rmdir(base) })
	tree, err := At(base)
	if err != nil {
		t.Fatal(err)
	}
	if tree.Version() != 2 {
		t.Fatalf("At(%s) is v%d", base, tree.Version())
	}
	g, err := tree.New("g", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	fd, ok := g.FD()
	if !ok {
		t.Fatal("no FD on v2")
	}

	p := startChild(t, "sleep", &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd})
	if got := cgroupOf(t, p.cmd.Process.Pid)[""]; got != filepath.Join(own, filepath.Base(base), "g") {
		t.Errorf("child born in %s", got)
	}
	st, err := g.Stats()
	if err != nil || st.Procs != 1 {
		t.Errorf("stats %+v, %v", st, err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	p.wait(t, 5*time.Second)
	if _, err := os.Stat(filepath.Join(base, "g")); !os.IsNotExist(err) {
		t.Errorf("group left: %v", err)
	}
}

// TestVersionFollowsTheMountLayout prevents a unified-mode systemd (in a
// container on a v1 host, /proc/self/cgroup still lists the host's v1
// hierarchies) being taken for v1, and a hybrid host for v2.
func TestVersionFollowsTheMountLayout(t *testing.T) {
	hybridLines := []byte("9:name=systemd:/\n4:memory:/\n1:cpu:/\n0::/system.slice/wad.service\n")
	m, err := parseMembership(hybridLines)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := fakeV2(t) // the root is a cgroup2 mount
	if v := h.version(m); v != 2 {
		t.Errorf("cgroup2 at the root with v1 lines: v%d", v)
	}
	hybrid := t.TempDir()
	os.MkdirAll(hybrid+"/unified", 0o755)
	os.MkdirAll(hybrid+"/memory", 0o755)
	os.WriteFile(hybrid+"/unified/cgroup.controllers", nil, 0o644)
	h.root = hybrid
	if v := h.version(m); v != 1 {
		t.Errorf("hybrid without unified controllers: v%d", v)
	}
	os.WriteFile(hybrid+"/unified/cgroup.controllers", []byte("memory pids\n"), 0o644)
	if v := h.version(m); v != 2 {
		t.Errorf("hybrid with the memory controller in unified: v%d", v)
	}
	m, _ = parseMembership([]byte("0::/a\n"))
	os.WriteFile(hybrid+"/unified/cgroup.controllers", nil, 0o644)
	if v := h.version(m); v != 2 {
		t.Errorf("only a 0:: line: v%d", v)
	}
	if _, err := parseMembership([]byte("garbage\n")); err == nil {
		t.Error("a malformed /proc/self/cgroup parsed")
	}
}

// TestEnterLeavesASharedCgroupAlone prevents a daemon started from a
// shell that inherited INVOCATION_ID (a terminal run as a user service:
// its cgroup belongs to the user) from taking that cgroup for a delegated
// one, moving itself into a "daemon" leaf under the terminal's cgroup
// and leaving the leaf behind when enabling the controllers then fails.
func TestEnterLeavesASharedCgroupAlone(t *testing.T) {
	h, unit := fakeV2(t)
	h.euid = 4242
	os.Lchown(unit, 4242, 4242)
	shared := fmt.Sprintf("%d\n1234567\n", os.Getpid())
	os.WriteFile(unit+"/cgroup.procs", []byte(shared), 0o644)
	if tree, err := h.delegated(); !errors.Is(err, ErrNotDelegated) || !strings.Contains(err.Error(), "1234567") {
		t.Errorf("a cgroup shared with pid 1234567 delegated: %v, %v", tree, err)
	}
	tree := &Tree{version: 2, rel: "/system.slice/wad.service", dirs: []dir{{path: unit}}}
	if err := tree.Enter("daemon"); err == nil {
		t.Error("Enter succeeded in a shared cgroup")
	}
	if _, err := os.Stat(unit + "/daemon"); !os.IsNotExist(err) {
		t.Errorf("Enter made its leaf in a shared cgroup: %v", err)
	}
	if got := read(t, unit+"/cgroup.subtree_control"); got != "" {
		t.Errorf("cgroup.subtree_control = %q", got)
	}
	// Alone in it (the service's main process), it is the daemon's.
	os.WriteFile(unit+"/cgroup.procs", []byte(fmt.Sprintf("%d\n", os.Getpid())), 0o644)
	if _, err := h.delegated(); err != nil {
		t.Errorf("alone in its cgroup: %v", err)
	}
}

// TestDelegatedStaysInsideTheMount prevents a process whose cgroup lies
// outside its cgroup namespace ("0::/../../x" in /proc/self/cgroup) from
// making and writing cgroups at a path joined outside /sys/fs/cgroup.
func TestDelegatedStaysInsideTheMount(t *testing.T) {
	h, unit := fakeV2(t)
	h.euid = 4242
	os.Lchown(unit, 4242, 4242)
	// From the mount's parent, "../root/system.slice/wad.service" is the
	// fake unit itself: joined naively, it would be taken.
	rel := "/../" + filepath.Base(h.root) + "/system.slice/wad.service"
	h.selfCgroup = func() ([]byte, error) { return []byte("0::" + rel + "\n"), nil }
	if tree, err := h.delegated(); !errors.Is(err, ErrNotDelegated) || !strings.Contains(err.Error(), "outside") {
		t.Errorf("cgroup %s: %v, %v; want no tree", rel, tree, err)
	}
	if _, err := parseMembership([]byte("4:memory:/a/../../b\n")); err == nil {
		t.Error("a v1 path with .. parsed")
	}
}
