package chromeproc

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	ps "github.com/mitchellh/go-ps"
)

// Proc is one process as /proc/PID/stat showed it at one moment.
type Proc struct {
	PID  int
	PPID int
	PGID int
	// State is the stat state letter: 'R', 'S', 'D', 'T', 'Z' (zombie),
	// 'X' (dead), ...
	State byte
	// Start is the start time in clock ticks after boot. PID and Start
	// together name one process for the life of the system.
	Start uint64
}

// Stat reads /proc/PID/stat. The error wraps fs.ErrNotExist when there is
// no such process (or it is hidden from us); a malformed line is an error
// too.
func Stat(pid int) (Proc, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Proc{}, err
	}
	// The command name (field 2) is in parentheses and may contain
	// anything, including ") "; the fields resume after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return Proc{}, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 || len(f[0]) != 1 {
		return Proc{}, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	p := Proc{PID: pid, State: f[0][0]}
	var errs [3]error
	p.PPID, errs[0] = strconv.Atoi(f[1])
	p.PGID, errs[1] = strconv.Atoi(f[2])
	p.Start, errs[2] = strconv.ParseUint(f[19], 10, 64)
	for _, err := range errs {
		if err != nil {
			return Proc{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
	}
	return p, nil
}

// live reports whether the process had not exited when it was read.
func (p Proc) live() bool { return p.State != 'Z' && p.State != 'X' }

// Same reports whether p.PID still names the process p was read from (its
// start time is unchanged) and that process has not exited. It is false
// for an exited process, a zombie, and a pid reused by another process.
func (p Proc) Same() bool {
	now, err := Stat(p.PID)
	return err == nil && now.Start == p.Start && now.live()
}

// Processes lists the live processes. go-ps enumerates them; each is then
// read again with Stat, because go-ps exposes neither start time nor
// process group. Zombies and processes that exit while being listed are
// left out, and so (go-ps's limit: it parses the stat line up to the
// first ')') is a process that named itself with a ')' followed by
// anything but a stat line's fields; Chrome names its processes after its
// executable. The error is go-ps's, when /proc cannot be listed at all.
func Processes() ([]Proc, error) {
	all, err := ps.Processes()
	if err != nil {
		return nil, fmt.Errorf("listing processes: %w", err)
	}
	out := make([]Proc, 0, len(all))
	for _, q := range all {
		if p, err := Stat(q.Pid()); err == nil && p.live() {
			out = append(out, p)
		}
	}
	return out, nil
}

// Tree returns root and its live descendants, plus every live process
// still in root's process group and their descendants (children
// re-parented after their parent died). It is empty when none of those
// is alive or the process list cannot be read.
func Tree(root int) []int {
	all, _ := Processes()
	byPID := make(map[int]bool, len(all))
	children := make(map[int][]int)
	for _, p := range all {
		byPID[p.PID] = true
		children[p.PPID] = append(children[p.PPID], p.PID)
	}
	seen := make(map[int]bool)
	var out []int
	var walk func(int)
	walk = func(pid int) {
		if seen[pid] || !byPID[pid] {
			return
		}
		seen[pid] = true
		out = append(out, pid)
		for _, c := range children[pid] {
			walk(c)
		}
	}
	walk(root)
	for _, p := range all {
		if p.PGID == root {
			walk(p.PID)
		}
	}
	return out
}

// TreeRSS returns the summed resident set size, in bytes, of Tree(root).
// Shared pages count once per process, as ps does; a process that exits
// meanwhile counts 0.
func TreeRSS(root int) int64 {
	var total int64
	for _, pid := range Tree(root) {
		total += rss(pid)
	}
	return total
}

// rss reads a process's resident pages from /proc/PID/statm (the same
// counter as VmRSS in /proc/PID/status); 0 when it cannot be read.
func rss(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}
