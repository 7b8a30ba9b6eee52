package reaper

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// ReportFile is the name, in the state directory, of the report of the
// last Run that changed something (not a dry run, not one refused
// before it started): `wad reap` runs as a process of its own before the
// daemon, which reads this file at start to export the figures as
// metrics.
const ReportFile = "reap.json"

// Report is what ReportFile holds: a Summary, when the Run ended, and
// its error, if any.
type Report struct {
	Time        time.Time `json:"time"`
	Mode        string    `json:"mode"`
	Found       int       `json:"found"`
	Signalled   int       `json:"signalled"`
	Killed      int       `json:"killed"`
	Removed     int       `json:"removed"`
	Bytes       int64     `json:"bytes"`
	StaleLocks  int       `json:"stale_locks"`
	Quarantined int       `json:"quarantined"`
	TookSeconds float64   `json:"took_seconds"`
	// Error is the Run's error; empty when it left the state clean.
	Error string `json:"error,omitempty"`
}

// newReport is the report of a Run that ended at end with s and err.
func newReport(s Summary, err error, end time.Time) Report {
	r := Report{
		Time: end.UTC(), Mode: s.Mode, Found: s.Found, Signalled: s.Signalled, Killed: s.Killed,
		Removed: s.Removed, Bytes: s.Bytes, StaleLocks: s.StaleLocks, Quarantined: s.Quarantined,
		TookSeconds: s.Took.Seconds(),
	}
	if err != nil {
		r.Error = err.Error()
	}
	return r
}

// writeReport replaces dir's ReportFile with r: written to a new
// temporary file (0600, never through a symlink) and renamed over it,
// so a reader sees the old report or the new one, never half of one.
func writeReport(dir string, r Report) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, fmt.Sprintf(".%s.%d", ReportFile, os.Getpid()))
	os.Remove(tmp) // a crashed run's, under a reused pid
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("writing the reaper's report: %w", err)
	}
	_, werr := f.Write(append(b, '\n'))
	if err := errors.Join(werr, f.Close()); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing the reaper's report: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, ReportFile)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing the reaper's report: %w", err)
	}
	return nil
}

// ReadReport returns the report the last Run wrote into stateDir; an
// error wrapping os.ErrNotExist when there is none (the reaper never
// ran there, as without systemd).
func ReadReport(stateDir string) (Report, error) {
	var r Report
	b, err := os.ReadFile(filepath.Join(stateDir, ReportFile))
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("reading %s: %w", ReportFile, err)
	}
	return r, nil
}
