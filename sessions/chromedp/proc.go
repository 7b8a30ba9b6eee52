package chromedp

import "github.com/wad-project/wad/internal/chromeproc"

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
