package reaper

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"
)

var benchBrowsers = flag.Int("reaper.browsers", 6,
	"headless Chromium browsers BenchmarkReapChromium starts per iteration (6 are about 50 processes)")

// BenchmarkReapChromium measures killing stale Chromium browsers (real
// ones, started before the timer runs) and removing their profiles: the
// reaper against `pkill -f STATEDIR` plus `rm -rf`, on the same setup.
// The pkill time includes waiting until every process is gone, as the
// reaper's does. Run with -benchtime=1x; -reaper.browsers=N sets the size.
func BenchmarkReapChromium(b *testing.B) {
	for _, how := range []string{"reaper", "pkill+rm"} {
		b.Run(fmt.Sprintf("%s/browsers=%d", how, *benchBrowsers), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				state := filepath.Join(b.TempDir(), "state")
				opts := make([]chromeOpts, *benchBrowsers)
				for j := range opts {
					opts[j] = chromeOpts{profile: filepath.Join(state, AuthDir, fmt.Sprintf("session-%d", j))}
				}
				write(b, state, CacheDir+"/2.3000.1.html")
				cs := startChromes(b, opts...)
				procs := 0
				for _, c := range cs {
					procs += len(c.tree)
				}
				b.ReportMetric(float64(procs), "procs/op")
				b.StartTimer()
				if how == "reaper" {
					if _, err := Run(context.Background(), Options{StateDir: state, Log: quiet()}); err != nil {
						b.Fatal(err)
					}
				} else {
					// pkill exits 1 when nothing matched; a match is certain here.
					if out, err := exec.Command("pkill", "-f", regexp.QuoteMeta(state)).CombinedOutput(); err != nil {
						b.Fatalf("pkill: %v %s", err, out)
					}
					for _, c := range cs {
						for len(c.running()) > 0 {
							time.Sleep(5 * time.Millisecond)
						}
					}
					rm := exec.Command("rm", "-rf", filepath.Join(state, AuthDir), filepath.Join(state, CacheDir))
					if out, err := rm.CombinedOutput(); err != nil {
						b.Fatalf("rm: %v %s", err, out)
					}
				}
				b.StopTimer()
				for _, c := range cs {
					if left := c.running(); len(left) > 0 {
						b.Fatalf("%s left processes running: %v", how, left)
					}
				}
			}
		})
	}
}

// benchFiles is the size of BenchmarkReapFiles' trees.
const (
	benchSessions        = 40   // profiles in .wwebjs_auth
	benchFilesPerSession = 2000 // in two subdirectories each
	benchCacheFiles      = 20000
)

// makeTrees fills .wwebjs_auth and .wwebjs_cache with 100,000 small files.
func makeTrees(b *testing.B, state string) int {
	n := 0
	data := []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	for s := 0; s < benchSessions; s++ {
		for d := 0; d < 2; d++ {
			dir := filepath.Join(state, AuthDir, fmt.Sprintf("session-%d", s), "Default", fmt.Sprintf("Cache%d", d))
			mkdirs(b, dir)
			for f := 0; f < benchFilesPerSession/2; f++ {
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%05d", f)), data, 0o600); err != nil {
					b.Fatal(err)
				}
				n++
			}
		}
	}
	dir := filepath.Join(state, CacheDir)
	mkdirs(b, dir)
	for f := 0; f < benchCacheFiles; f++ {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("2.3000.%07d.html", f)), data, 0o600); err != nil {
			b.Fatal(err)
		}
		n++
	}
	return n
}

// BenchmarkReapFiles measures removing 100,000 files in the auth and cache
// trees (no browsers running): the reaper in reset mode against rm -rf.
func BenchmarkReapFiles(b *testing.B) {
	for _, how := range []string{"reaper", "rm-rf"} {
		b.Run(how, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				state := filepath.Join(b.TempDir(), "state")
				files := makeTrees(b, state)
				b.ReportMetric(float64(files), "files/op")
				syscall.Sync() // so neither contender pays for the other's writeback
				b.StartTimer()
				if how == "reaper" {
					sum, err := Run(context.Background(), Options{StateDir: state, Log: quiet()})
					if err != nil {
						b.Fatal(err)
					}
					if sum.Removed < files {
						b.Fatalf("removed %d entries, want at least %d", sum.Removed, files)
					}
				} else {
					rm := exec.Command("rm", "-rf", filepath.Join(state, AuthDir), filepath.Join(state, CacheDir))
					if out, err := rm.CombinedOutput(); err != nil {
						b.Fatalf("rm: %v %s", err, out)
					}
				}
				b.StopTimer()
			}
		})
	}
}
