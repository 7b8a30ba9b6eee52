package cgroup

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestOOMKillStaysInGroup prevents the failure: one browser over
// its memory limit must be killed by the kernel inside its own group
// (counted in OOMKills), while a sibling group and this process run on.
func TestOOMKillStaysInGroup(t *testing.T) {
	tree, err := At(scratchV1(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	hogG, err := tree.New("hog", Limits{MemoryMax: 32 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer hogG.Close()
	sibG, err := tree.New("sibling", Limits{MemoryMax: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer sibG.Close()
	if _, ok := hogG.FD(); ok {
		t.Error("FD is ok on v1")
	}
	hog := startChild(t, "hog", nil)
	sib := startChild(t, "sleep", nil)
	if err := hogG.Add(hog.cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if err := sibG.Add(sib.cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	hog.start(t)
	err = hog.wait(t, 30*time.Second)
	ws, ok := hog.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the hog ended with %v, want SIGKILL", err)
	}
	st, err := hogG.Stats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("hog group: %+v", st)
	if st.OOMKills < 1 || st.MemoryMax != 32<<20 || st.Procs != 0 {
		t.Errorf("hog group stats %+v, want OOMKills >= 1, MemoryMax 32MiB, no procs", st)
	}
	time.Sleep(100 * time.Millisecond)
	if !sib.running() {
		t.Fatal("the sibling died with the hog")
	}
	st, err = sibG.Stats()
	if err != nil || st.OOMKills != 0 || st.Procs != 1 {
		t.Errorf("sibling group stats %+v, %v; want no OOM kill, 1 proc", st, err)
	}
}

// TestStatsReportsUsage prevents session.status showing zeros: a busy
// child's group reports memory, CPU time, its process and its limit, and
// the CPU quota lands in cpu.cfs_quota_us.
func TestStatsReportsUsage(t *testing.T) {
	rel := scratchV1(t, "")
	tree, err := At(rel)
	if err != nil {
		t.Fatal(err)
	}
	if tree.Version() != 1 || !strings.HasPrefix(tree.String(), rel+" (v1: memory") {
		t.Errorf("tree %d %q", tree.Version(), tree)
	}
	g, err := tree.New("busy", Limits{MemoryMax: 256 << 20, MemoryHigh: 128 << 20, CPUMax: 1.5})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	for _, d := range g.dirs {
		if d.has("cpu") {
			if b, _ := os.ReadFile(filepath.Join(d.path, "cpu.cfs_quota_us")); strings.TrimSpace(string(b)) != "150000" {
				t.Errorf("cpu.cfs_quota_us = %q, want 150000", b)
			}
		}
		if d.has("memory") {
			if b, _ := os.ReadFile(filepath.Join(d.path, "memory.soft_limit_in_bytes")); strings.TrimSpace(string(b)) != strconv.Itoa(128<<20) {
				t.Errorf("memory.soft_limit_in_bytes = %q", b)
			}
		}
	}
	p := startChild(t, "spin", nil)
	if err := g.Add(p.cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	p.start(t)
	if l := p.line(t); l != "done" {
		t.Fatalf("child said %q", l)
	}
	st, err := g.Stats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats: %+v", st)
	if st.MemoryBytes < 16<<20 || st.MemoryMax != 256<<20 || st.CPUSeconds < 0.1 || st.Procs != 1 || st.OOMKills != 0 {
		t.Errorf("stats %+v, want >= 16MiB, max 256MiB, >= 0.1 CPU seconds, 1 proc, no OOM kill", st)
	}
	if _, err := tree.New("../escape", Limits{}); err == nil {
		t.Error("New accepted ../escape")
	}
}

// TestAddMovesForkedChildrenAndCloseKillsThem prevents a browser's
// helpers, forked before the move, from staying outside the group's
// limits, and Close from leaving processes or directories behind.
func TestAddMovesForkedChildrenAndCloseKillsThem(t *testing.T) {
	rel := scratchV1(t, "")
	tree, err := At(rel)
	if err != nil {
		t.Fatal(err)
	}
	g, err := tree.New("tree", Limits{MemoryMax: 128 << 20})
	if err != nil {
		t.Fatal(err)
	}
	p := startChild(t, "fork", nil)
	p.start(t)
	grandchild, err := strconv.Atoi(p.line(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Add(p.cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	for _, pid := range []int{p.cmd.Process.Pid, grandchild} {
		in := cgroupOf(t, pid)
		for _, d := range g.dirs {
			for _, c := range d.ctrls {
				if in[c] != rel+"/tree" {
					t.Errorf("pid %d is in %s:%s, want %s/tree", pid, c, in[c], rel)
				}
			}
		}
	}
	if st, err := g.Stats(); err != nil || st.Procs != 2 {
		t.Errorf("stats %+v, %v; want 2 procs", st, err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	p.wait(t, 5*time.Second)
	if !gone(grandchild, 5*time.Second) {
		t.Errorf("grandchild %d survived Close", grandchild)
	}
	for _, d := range g.dirs {
		if _, err := os.Stat(d.path); !os.IsNotExist(err) {
			t.Errorf("%s left behind: %v", d.path, err)
		}
	}
	if _, err := g.Stats(); err == nil {
		t.Error("Stats of a closed group succeeded")
	}
}

// TestNewReplacesStaleGroup prevents a crashed daemon's leftover group,
// and the browser still in it, from blocking a session's restart.
func TestNewReplacesStaleGroup(t *testing.T) {
	tree, err := At(scratchV1(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	old, err := tree.New("s", Limits{MemoryMax: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	p := startChild(t, "sleep", nil)
	if err := old.Add(p.cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	g, err := tree.New("s", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	p.wait(t, 5*time.Second)
	st, err := g.Stats()
	if err != nil || st.Procs != 0 || st.MemoryMax != 0 {
		t.Errorf("replaced group %+v, %v; want empty and unlimited", st, err)
	}
}

// TestEnterRefusesToKillItself prevents New from "replacing" the leaf the
// daemon sits in, which would SIGKILL the daemon.
func TestEnterRefusesToKillItself(t *testing.T) {
	tree, err := At(scratchV1(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	before := cgroupOf(t, os.Getpid())
	t.Cleanup(func() {
		// Move the test process back where it was, then remove the leaf.
		for _, d := range tree.dirs {
			mount := strings.TrimSuffix(d.path, tree.rel)
			if err := writeFile(filepath.Join(mount, before[d.ctrls[0]], "cgroup.procs"), strconv.Itoa(os.Getpid())); err != nil {
				t.Error(err)
			}
			if err := rmdir(filepath.Join(d.path, "daemon")); err != nil {
				t.Error(err)
			}
		}
	})
	if err := tree.Enter("daemon"); err != nil {
		t.Fatal(err)
	}
	if in := cgroupOf(t, os.Getpid()); in["memory"] != tree.rel+"/daemon" {
		t.Fatalf("after Enter the test is in %s", in["memory"])
	}
	if _, err := tree.New("daemon", Limits{}); err == nil {
		t.Error("New accepted the leaf's name")
	}
	stale := &Group{t: tree, name: "daemon", fd: -1}
	for _, d := range tree.dirs {
		stale.dirs = append(stale.dirs, dir{path: filepath.Join(d.path, "daemon"), ctrls: d.ctrls})
	}
	if err := stale.remove(); err == nil || !strings.Contains(err.Error(), "holds this process") {
		t.Errorf("remove of the own cgroup: %v", err)
	}
}
