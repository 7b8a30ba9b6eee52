package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wad-project/wad/ctl"
)

const doctorHelp = `Checks what wad needs and prints one line per finding (ok, WARN, FAIL),
with the fix below each problem:

  socket     the daemon answers on the socket; its owner, group and mode
  group      you may use the socket (root, or a member of its group wad)
  config     the configuration is valid
  state_dir  the state directory belongs to wad's user and is not open to others
  chromium   Chromium is installed (needed for chromedp sessions), its version
  sandbox    Chromium's sandbox works as wad's user
  store      every SQLite store passes PRAGMA integrity_check
  disk       free space where the state directory is
  session    each session's state and reason, with what to do
  devices    each connected whatsmeow account's linked devices (WhatsApp allows 4)
  unit       wad.service under systemd: its state, restarts and last exit

The daemon makes most checks itself (wad.doctor). When it does not answer,
or answers wad.doctor with an error (an older wad, [[access]] rules), wactl
runs ` + "`wad doctor --json`" + ` (next to wactl, or on PATH) to make them without it.
Exit status 0 when nothing failed (warnings allowed), 1 otherwise.
--json prints {"findings": [...], "ok": true|false}.
`

// Where the packaged install keeps its config, and its unit.
const (
	packagedConfig = "/etc/wad/wad.toml"
	packagedUser   = "wad"
	unitName       = "wad.service"
)

// doctorTimeout bounds wad.doctor and `wad doctor`: they start Chromium
// once and read every store.
const doctorTimeout = 3 * time.Minute

func doctorFlags(fs *flag.FlagSet) func(*app, context.Context, []string) error {
	config := fs.String("config", "", "the daemon's configuration `FILE`, for `wad doctor` when the daemon does not answer\n(default: "+packagedConfig+" for the system socket, else wad's embedded defaults)")
	return func(a *app, ctx context.Context, _ []string) error { return a.doctor(ctx, *config) }
}

// doctor runs the caller's checks (socket, group), the daemon's
// (wad.doctor, or `wad doctor` when the daemon does not answer) and the
// unit's, prints them and fails when one failed.
func (a *app) doctor(ctx context.Context, config string) error {
	path := a.socket
	if path == "" {
		path = ctl.DefaultSocket()
		// No socket anywhere, and a packaged install: it is the system
		// daemon that is down (wad.socket gone with a failed unit), not
		// a per-user one that was never started.
		if _, err := os.Stat(path); err != nil && os.Getenv("WAD_SOCKET") == "" {
			if _, err := os.Stat(packagedConfig); err == nil {
				path = ctl.SystemSocket
			}
		}
	}
	var findings []ctl.Finding
	fi, statErr := os.Stat(path)
	if statErr == nil {
		findings = append(findings, groupFinding(path, fi))
	}
	daemonFindings, sock, answered := a.askDaemon(ctx, path, fi, statErr)
	findings = append([]ctl.Finding{sock}, findings...)
	if daemonFindings == nil {
		findings = append(findings, localDoctor(ctx, path, config, answered)...)
	} else {
		findings = append(findings, daemonFindings...)
	}
	findings = append(findings, unitFindings(ctx, answered)...)
	report := ctl.NewDoctorReport(findings)
	if a.json {
		if err := a.printJSON(report); err != nil {
			return err
		}
	} else if err := ctl.WriteFindings(a.stdout, findings); err != nil {
		return err
	}
	return report.Err()
}

// askDaemon dials the socket and calls wad.doctor. It returns the
// daemon's findings (nil when it gave none), the socket finding, and
// whether the daemon answered at all (wad.doctor may still have failed:
// an older daemon, access rules, a timeout).
func (a *app) askDaemon(ctx context.Context, path string, fi os.FileInfo, statErr error) ([]ctl.Finding, ctl.Finding, bool) {
	if statErr != nil {
		msg := fmt.Sprintf("no socket at %s: %v", path, statErr)
		fix := "start wad: sudo systemctl start wad.socket (or run `wad` as yourself); or point --socket/WAD_SOCKET at its socket"
		if errors.Is(statErr, fs.ErrPermission) {
			fix = "see the directory's permissions: the caller cannot reach " + filepath.Dir(path)
		}
		return nil, ctl.Finding{Check: ctl.CheckSocket, Status: ctl.FindingFail, Message: msg, Fix: fix}, false
	}
	who := socketWho(fi)
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	c, err := ctl.Dial(dctx, path)
	cancel()
	if err != nil {
		fix := "start wad: sudo systemctl start wad (see the unit finding and `journalctl -u wad -e`)"
		if errors.Is(err, fs.ErrPermission) {
			fix = "see the group finding"
		}
		return nil, ctl.Finding{Check: ctl.CheckSocket, Status: ctl.FindingFail,
			Message: fmt.Sprintf("wad does not answer on %s (%s): %v", path, who, errors.Unwrap(err)), Fix: fix}, false
	}
	defer c.Close()
	cctx, cancel := context.WithTimeout(ctx, doctorTimeout)
	defer cancel()
	var res ctl.DoctorResult
	if err := c.Call(cctx, ctl.MethodDoctor, ctl.Empty{}, &res); err != nil {
		fix := "see `journalctl -u wad -e`"
		switch {
		case errors.Is(err, ctl.ErrMethodNotFound):
			fix = "upgrade wad so that wad and wactl are the same version (wactl version shows both)"
		case errors.Is(err, ctl.ErrPermission):
			fix = "the [[access]] rules of wad's config do not let you read: ask its administrator"
		}
		return nil, ctl.Finding{Check: ctl.CheckSocket, Status: ctl.FindingFail,
			Message: fmt.Sprintf("wad answers on %s but wad.doctor failed: %s", path, describe(err)), Fix: fix}, true
	}
	if res.Findings == nil {
		res.Findings = []ctl.Finding{}
	}
	return res.Findings, ctl.Finding{Check: ctl.CheckSocket, Status: ctl.FindingOK, Message: fmt.Sprintf("wad answers on %s (%s)", path, who)}, true
}

// socketWho says who owns the socket and who may use it.
func socketWho(fi os.FileInfo) string {
	st, _ := fi.Sys().(*syscall.Stat_t)
	if st == nil {
		return "mode " + fi.Mode().String()
	}
	mode := fi.Mode().Perm()
	owner, group := userName(st.Uid), groupName(st.Gid)
	who := "root"
	if st.Uid != 0 {
		who = "root and " + owner
	}
	switch {
	case mode&0o006 == 0o006:
		who = "anyone"
	case mode&0o060 == 0o060:
		who += " and members of group " + group
	}
	return fmt.Sprintf("owner %s, group %s, mode %04o: %s may use it", owner, group, mode, who)
}

// groupFinding checks that the caller may use the socket: root, its
// owner, anyone when it is open to all, else a member of its group in
// this login session. Someone added to the group after logging in is
// told to log in again.
func groupFinding(path string, fi os.FileInfo) ctl.Finding {
	st, _ := fi.Sys().(*syscall.Stat_t)
	if st == nil {
		return ctl.Finding{Check: ctl.CheckGroup, Status: ctl.FindingWarn, Message: "cannot read the socket's owner", Fix: "check " + path}
	}
	mode := fi.Mode().Perm()
	uid := os.Geteuid()
	me := userName(uint32(uid))
	group := groupName(st.Gid)
	ok := func(msg string) ctl.Finding {
		return ctl.Finding{Check: ctl.CheckGroup, Status: ctl.FindingOK, Message: msg}
	}
	switch {
	case uid == 0:
		return ok("you are root")
	case uint32(uid) == st.Uid && mode&0o600 == 0o600:
		return ok("you (" + me + ") own the socket")
	case mode&0o006 == 0o006:
		return ok("the socket is open to everyone")
	}
	groups, _ := os.Getgroups()
	groups = append(groups, os.Getegid())
	if slices.Contains(groups, int(st.Gid)) && mode&0o060 == 0o060 {
		return ok(fmt.Sprintf("you (%s) are in group %s", me, group))
	}
	name := me
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		name = u.Username
		if ids, err := u.GroupIds(); err == nil && slices.Contains(ids, strconv.Itoa(int(st.Gid))) && mode&0o060 == 0o060 {
			return ctl.Finding{Check: ctl.CheckGroup, Status: ctl.FindingFail,
				Message: fmt.Sprintf("%s is in group %s, but not in this login session (added after it began)", me, group),
				Fix:     fmt.Sprintf("log in again (or run `newgrp %s`)", group)}
		}
	}
	return ctl.Finding{Check: ctl.CheckGroup, Status: ctl.FindingFail,
		Message: fmt.Sprintf("%s is not in group %s, so may not use %s (mode %04o)", me, group, path, mode),
		Fix:     fmt.Sprintf("sudo usermod -aG %s %s, then log in again", group, name)}
}

func userName(uid uint32) string {
	if u, err := user.LookupId(strconv.Itoa(int(uid))); err == nil {
		return fmt.Sprintf("%s (uid %d)", u.Username, uid)
	}
	return fmt.Sprintf("uid %d", uid)
}

func groupName(gid uint32) string {
	if g, err := user.LookupGroupId(strconv.Itoa(int(gid))); err == nil {
		return g.Name
	}
	return fmt.Sprintf("gid %d", gid)
}

// localDoctor runs `wad doctor --json` for the daemon's checks when the
// daemon does not make them (it does not answer, or answered wad.doctor
// with an error): the packaged config and user for the system socket,
// the embedded defaults otherwise, unless config names one. wad is
// looked for next to wactl, then on PATH.
func localDoctor(ctx context.Context, socket, config string, answered bool) []ctl.Finding {
	wad := ""
	if exe, err := os.Executable(); err == nil {
		if p := filepath.Join(filepath.Dir(exe), "wad"); isExecutable(p) {
			wad = p
		}
	}
	if wad == "" {
		if p, err := exec.LookPath("wad"); err == nil {
			wad = p
		}
	}
	if wad == "" {
		return []ctl.Finding{{Check: ctl.CheckDaemon, Status: ctl.FindingWarn,
			Message: "the daemon's checks were not made: wad is neither next to wactl nor on PATH",
			Fix:     "start wad and run wactl doctor again, or put wad on PATH"}}
	}
	args := []string{"doctor", "--json"}
	if config != "" {
		args = append(args, "--config", config)
	}
	if socket == ctl.SystemSocket {
		if _, err := os.Stat(packagedConfig); err == nil && config == "" {
			args = append(args, "--config", packagedConfig)
		}
		if _, err := user.Lookup(packagedUser); err == nil {
			args = append(args, "--user", packagedUser)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, doctorTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(cctx, wad, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var res ctl.DoctorReport
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil || len(res.Findings) == 0 {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" && runErr != nil {
			msg = runErr.Error()
		}
		return []ctl.Finding{{Check: ctl.CheckDaemon, Status: ctl.FindingWarn,
			Message: fmt.Sprintf("the daemon's checks were not made: %s %s: %s", wad, strings.Join(args, " "), msg),
			Fix:     "start wad and run wactl doctor again"}}
	}
	why, fix := "wad is not answering", "start wad (sudo systemctl start wad) and run wactl doctor again for the sessions"
	if answered {
		why, fix = "wad answers but did not make its checks (see the socket finding)", "see the socket finding's fix, then run wactl doctor again for the sessions"
	}
	return append([]ctl.Finding{{Check: ctl.CheckDaemon, Status: ctl.FindingWarn,
		Message: fmt.Sprintf("%s: the checks below are `%s %s`'s, made as %s, without the sessions", why, wad, strings.Join(args, " "), currentUser()),
		Fix:     fix}}, res.Findings...)
}

func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return fmt.Sprintf("uid %d", os.Geteuid())
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// unitProps are the properties of wad.service unitFindings reads.
var unitProps = []string{"LoadState", "ActiveState", "SubState", "NRestarts", "ExecMainStatus", "ExecMainCode", "Result", "ActiveEnterTimestamp"}

// unitFindings reports wad.service when systemd runs this host and
// knows the unit: nothing otherwise.
func unitFindings(ctx context.Context, answered bool) []ctl.Finding {
	if _, err := os.Stat("/run/systemd/system"); err != nil {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(cctx, "systemctl", "show", unitName, "-p", strings.Join(unitProps, ",")).Output()
	if err != nil {
		return []ctl.Finding{{Check: ctl.CheckUnit, Status: ctl.FindingWarn, Message: "systemctl show " + unitName + ": " + err.Error(), Fix: "run `systemctl status wad`"}}
	}
	f, known := unitFinding(parseProps(out), answered)
	if !known {
		return nil
	}
	return []ctl.Finding{f}
}

// parseProps reads systemctl show's Key=Value lines.
func parseProps(b []byte) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			m[k] = v
		}
	}
	return m
}

// unitFinding judges wad.service from its properties: failed or
// restarting is a failure, restarts since boot a warning, not running
// a warning when the socket did not answer either (socket activation
// starts it at the first connection). known is false when systemd does
// not know the unit.
func unitFinding(p map[string]string, answered bool) (f ctl.Finding, known bool) {
	if p["LoadState"] == "not-found" || p["LoadState"] == "" {
		return ctl.Finding{}, false
	}
	msg := fmt.Sprintf("%s %s (%s)", unitName, p["ActiveState"], p["SubState"])
	if t := p["ActiveEnterTimestamp"]; t != "" && p["ActiveState"] == "active" {
		msg += " since " + t
	}
	restarts, _ := strconv.Atoi(p["NRestarts"])
	msg += fmt.Sprintf(", %d restarts", restarts)
	if p["ExecMainCode"] != "" && p["ExecMainCode"] != "0" {
		msg += fmt.Sprintf(", last exit: status %s (%s)", p["ExecMainStatus"], exitCode(p["ExecMainCode"]))
	}
	if r := p["Result"]; r != "" && r != "success" {
		msg += ", result " + r
	}
	f = ctl.Finding{Check: ctl.CheckUnit, Status: ctl.FindingOK, Message: msg}
	journal := "see why with `journalctl -u wad -e`, fix it, then `sudo systemctl restart wad`"
	switch {
	case p["ActiveState"] == "failed", p["SubState"] == "auto-restart", p["ActiveState"] == "activating" && !answered:
		f.Status, f.Fix = ctl.FindingFail, journal
	case p["ActiveState"] != "active" && !answered:
		f.Status, f.Fix = ctl.FindingWarn, "start it: sudo systemctl start wad.socket wad"
	case restarts > 0 || (p["Result"] != "" && p["Result"] != "success"):
		f.Status, f.Fix = ctl.FindingWarn, "it restarted after failing: see why with `journalctl -u wad -e`"
	}
	return f, true
}

// exitCode names systemd's ExecMainCode (the CLD_* codes of waitid).
func exitCode(code string) string {
	switch code {
	case "1":
		return "exited"
	case "2":
		return "killed"
	case "3":
		return "dumped core"
	}
	return "code " + code
}
