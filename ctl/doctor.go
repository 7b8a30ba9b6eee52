package ctl

import "io"

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

// FindingsFailed reports whether any finding failed: `wactl doctor` and
// `wad doctor` exit 1 then (warnings alone exit 0).
func FindingsFailed(fs []Finding) bool {
	for _, f := range fs {
		if f.Status == FindingFail {
			return true
		}
	}
	return false
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
