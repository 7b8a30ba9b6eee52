package cgroup

import (
	"errors"
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

// ParseLimits reads the config spellings: memory sizes as bytes with an
// optional K, M, G or T suffix (powers of 1024; "512M", "1.5G"), CPU as
// a percentage of one core ("150%") or a number of cores ("1.5"). Empty
// strings are no limit.
func ParseLimits(memoryMax, memoryHigh, cpuMax string) (Limits, error) {
	panic("not implemented")
}

// Stats is what a group uses now.
type Stats struct {
	MemoryBytes int64   // memory.current (v1 memory.usage_in_bytes)
	MemoryMax   int64   // the effective limit, 0 when none
	CPUSeconds  float64 // cpu.stat usage_usec (v1 cpuacct.usage)
	Procs       int     // processes in the group
	OOMKills    int64   // processes the OOM killer killed in the group
}

// Tree is a delegated subtree: the daemon's own leaf and one child group
// per browser.
type Tree struct {
	// unexported: the hierarchy (v2 path, or v1 path per controller)
}

// Delegated returns the subtree delegated to this process: its own
// cgroup, when systemd started it as a service with Delegate=yes (v2:
// the directory is owned by the service user, or carries systemd's
// delegate xattr when running as root; v1: the unit's directories in the
// memory and cpu hierarchies were handed over by `wad delegate`). The
// error wraps ErrNotDelegated and says why otherwise.
func Delegated() (*Tree, error) { panic("not implemented") }

// At returns a Tree rooted at dir, a cgroup the caller created and may
// write (tests: a cgroup a test made under its own). For v1, dir is the
// path relative to each hierarchy's mount point.
func At(dir string) (*Tree, error) { panic("not implemented") }

// Version is 2 on the unified hierarchy, 1 on v1 or hybrid hosts.
func (t *Tree) Version() int { panic("not implemented") }

// String names the subtree for logs ("/system.slice/wad.service", v2).
func (t *Tree) String() string { panic("not implemented") }

// Enter moves the calling process (every thread) into the leaf named
// leaf and, on v2, enables the memory, cpu and pids controllers for the
// children (a cgroup with processes cannot have controlled children).
func (t *Tree) Enter(leaf string) error { panic("not implemented") }

// New creates the child group name (replacing one a crashed daemon left,
// after killing what runs in it) with limits l.
func (t *Tree) New(name string, l Limits) (*Group, error) { panic("not implemented") }

// Group is one browser's cgroup.
type Group struct{}

// Name is the group's name under the tree.
func (g *Group) Name() string { panic("not implemented") }

// FD returns an open directory descriptor of the group for
// syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd} (clone3 into the
// cgroup: the process never runs outside it). ok is false on v1, where
// Add must move the process after it started.
func (g *Group) FD() (fd int, ok bool) { panic("not implemented") }

// Add moves pid and every descendant of it into the group (v1, or a
// process started without FD).
func (g *Group) Add(pid int) error { panic("not implemented") }

// Stats reads the group's usage, limit and OOM kills.
func (g *Group) Stats() (Stats, error) { panic("not implemented") }

// Close kills whatever still runs in the group and removes it.
func (g *Group) Close() error { panic("not implemented") }
