package ctl

import (
	"fmt"
	"io"
)

// Finding statuses, worst last.
const (
	FindingOK   = "ok"
	FindingWarn = "warn"
	FindingFail = "fail"
)

// Finding checks (Finding.Check). wad.doctor reports the daemon's side;
// wactl doctor adds the caller's side (socket, group, unit) and runs the
// daemon's checks itself (wad doctor) when the daemon does not answer.
const (
	CheckConfig   = "config"    // the configuration loads and validates
	CheckSocket   = "socket"    // the socket answers; who may use it
	CheckGroup    = "group"     // the caller may use the socket (group wad)
	CheckStateDir = "state_dir" // owner and mode of the state directory
	CheckChromium = "chromium"  // present, its version
	CheckSandbox  = "sandbox"   // Chromium's sandbox works as the service user
	CheckStore    = "store"     // PRAGMA integrity_check of each SQLite store
	CheckDisk     = "disk"      // free space in the state directory
	CheckSession  = "session"   // a session's state and reason
	CheckDevices  = "devices"   // linked devices of a session's account
	CheckUnit     = "unit"      // wad.service: state, restarts, last exit
	CheckCgroup   = "cgroup"    // per-browser limits on or off, and why
	CheckDaemon   = "daemon"    // the daemon's own checks could not be made
)

// Finding is one result of a health check: what was checked, how it
// went, and, unless it is ok, what to do about it.
type Finding struct {
	Check  string `json:"check"`
	Status string `json:"status"`
	// Client is the session a session or devices finding is about.
	Client  string `json:"client,omitempty"`
	Message string `json:"message"`
	// Fix says what to do; empty when Status is ok.
	Fix string `json:"fix,omitempty"`
}

// DoctorResult is the result of wad.doctor.
type DoctorResult struct {
	Findings []Finding `json:"findings"`
}

// DoctorReport is what `wactl doctor --json` and `wad doctor --json`
// print (and what wactl reads from `wad doctor --json`): the findings,
// and OK when none failed.
type DoctorReport struct {
	Findings []Finding `json:"findings"`
	OK       bool      `json:"ok"`
}

// NewDoctorReport returns the report of fs.
func NewDoctorReport(fs []Finding) DoctorReport {
	if fs == nil {
		fs = []Finding{}
	}
	return DoctorReport{Findings: fs, OK: failed(fs) == 0}
}

// Err is nil when no finding failed (warnings alone pass), else an
// error counting the failures: `wactl doctor` and `wad doctor` exit 1
// with it.
func (r DoctorReport) Err() error {
	if n := failed(r.Findings); n > 0 {
		return fmt.Errorf("doctor: %d of %d checks failed", n, len(r.Findings))
	}
	return nil
}

func failed(fs []Finding) int {
	n := 0
	for _, f := range fs {
		if f.Status == FindingFail {
			n++
		}
	}
	return n
}

// WriteFindings prints findings for people, one line each (status,
// check, client, message), with the fix indented below what is not ok.
func WriteFindings(w io.Writer, fs []Finding) error {
	marks := map[string]string{FindingOK: "ok  ", FindingWarn: "WARN", FindingFail: "FAIL"}
	for _, f := range fs {
		mark, found := marks[f.Status]
		if !found {
			mark = f.Status
		}
		line := mark + "  " + f.Check
		if f.Client != "" {
			line += " " + f.Client
		}
		line += ": " + f.Message + "\n"
		if f.Status != FindingOK && f.Fix != "" {
			line += "      fix: " + f.Fix + "\n"
		}
		if _, err := io.WriteString(w, line); err != nil {
			return err
		}
	}
	return nil
}
