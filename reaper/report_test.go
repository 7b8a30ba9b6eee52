package reaper

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Prevents: the daemon exporting no reaper metrics (or stale ones)
// because the reaper, a process of its own, left nothing it can read.
func TestRunLeavesItsReportForTheDaemon(t *testing.T) {
	state := t.TempDir()
	write(t, state, CacheDir+"/2.3000.1.html", AuthDir+"/session-sales/Default/Cookies")
	if _, err := ReadReport(state); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("report before any run: %v", err)
	}
	before := time.Now()
	if _, err := Run(context.Background(), Options{StateDir: state, DryRun: true, Log: quiet()}); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadReport(state); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a dry run wrote a report: %v", err)
	}
	sum, err := Run(context.Background(), Options{StateDir: state, Config: Config{Mode: ModeReset}, Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	r, err := ReadReport(state)
	if err != nil {
		t.Fatal(err)
	}
	if r.Mode != ModeReset || r.Removed != sum.Removed || r.Removed == 0 || r.Bytes != sum.Bytes || r.Error != "" ||
		r.Time.Before(before.Add(-time.Second)) || r.TookSeconds != sum.Took.Seconds() {
		t.Fatalf("report %+v for summary %+v", r, sum)
	}
	fi, err := os.Lstat(filepath.Join(state, ReportFile))
	if err != nil || fi.Mode().Perm() != 0o600 || !fi.Mode().IsRegular() {
		t.Fatalf("report file: %v, %v", fi, err)
	}
	// The next run replaces it, and a symlink in its place is replaced,
	// not followed.
	outside := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(outside, []byte("keep"), 0o600)
	os.Remove(filepath.Join(state, ReportFile))
	if err := os.Symlink(outside, filepath.Join(state, ReportFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), Options{StateDir: state, Config: Config{Mode: ModeReset}, Log: quiet()}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(outside); string(b) != "keep" {
		t.Fatalf("the report followed a symlink: %q", b)
	}
	if r, err := ReadReport(state); err != nil || r.Removed != 0 {
		t.Fatalf("second report: %+v, %v", r, err)
	}
}
