package chromedp

import (
	"time"

	"github.com/wad-project/wad/internal/chromeproc"
)

// treeRSS returns the summed resident set size, in bytes, of root's
// process tree: root, its descendants and what is left of its process
// group (chromeproc.TreeRSS).
func treeRSS(root int) int64 {
	return chromeproc.TreeRSS(root)
}

// ProfileProcesses returns the pids of the live Chrome processes on the
// profile dir, by the rule the reaper uses too (chromeproc.Ours): Chrome
// executables of our uid whose --user-data-dir resolves to dir or below
// it, and their Chrome children (renderers, whose rewritten titles may
// not show the flag whole). It is empty when none is left or the process
// list cannot be read.
func ProfileProcesses(dir string) []int {
	cs, _ := chromeproc.Ours(dir)
	out := make([]int, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.PID)
	}
	return out
}

// killTree sends SIGKILL to the process group pgid and to every process
// still on the profile, then waits up to wait for them to be gone
// (chromeproc.KillTree). It reports whether none is left.
func killTree(pgid int, profile string, wait time.Duration) bool {
	return chromeproc.KillTree(pgid, profile, wait)
}
