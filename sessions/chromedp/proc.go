package chromedp

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// procInfo is what /proc/<pid>/stat tells about one process.
type procInfo struct {
	pid, ppid, pgid int
	state           byte
}

func readStat(pid int) (procInfo, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procInfo{}, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return procInfo{}, false
	}
	f := strings.Fields(string(b[i+2:]))
	if len(f) < 3 {
		return procInfo{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	pgid, _ := strconv.Atoi(f[2])
	return procInfo{pid: pid, ppid: ppid, pgid: pgid, state: f[0][0]}, true
}

func allPIDs() []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// treePIDs returns root and every live descendant of it, plus every
// process still in root's process group (children that were re-parented
// after their parent died).
func treePIDs(root int) []int {
	infos := map[int]procInfo{}
	children := map[int][]int{}
	for _, pid := range allPIDs() {
		if in, ok := readStat(pid); ok && in.state != 'Z' {
			infos[pid] = in
			children[in.ppid] = append(children[in.ppid], pid)
		}
	}
	seen := map[int]bool{}
	var out []int
	var walk func(int)
	walk = func(p int) {
		if seen[p] {
			return
		}
		if _, ok := infos[p]; !ok {
			return
		}
		seen[p] = true
		out = append(out, p)
		for _, c := range children[p] {
			walk(c)
		}
	}
	walk(root)
	for pid, in := range infos {
		if in.pgid == root {
			walk(pid)
		}
	}
	return out
}

// treeRSS returns the summed resident set size, in bytes, of root's
// process tree (see treePIDs). Shared pages are counted once per process,
// as ps does.
func treeRSS(root int) int64 {
	var total int64
	for _, pid := range treePIDs(root) {
		total += rssOf(pid)
	}
	return total
}

func rssOf(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) >= 1 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}

// ProfileProcesses returns the pids of the live (non-zombie) processes
// whose command line has --user-data-dir=dir. Chromium passes the flag to
// every child it starts, so this finds a browser's whole tree. The reaper
// and the tests use the same rule.
func ProfileProcesses(dir string) []int {
	abs, _ := filepath.Abs(dir)
	var out []int
	for _, pid := range allPIDs() {
		if browserUsing(pid, abs) {
			out = append(out, pid)
		}
	}
	return out
}

// killTree sends SIGKILL to the process group pgid and to every process
// still using the profile, then waits up to wait for them to be gone.
// It reports whether none is left.
func killTree(pgid int, profile string, wait time.Duration) bool {
	deadline := time.Now().Add(wait)
	for {
		if pgid > 0 {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
		left := ProfileProcesses(profile)
		for _, pid := range left {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if len(left) == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}
