package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon/daemontest"
	"github.com/wad-project/wad/daemon/doctor/doctortest"
	"github.com/wad-project/wad/sessions"
	"github.com/wad-project/wad/sessions/sessiontest"
)

// doctorJSON is what wactl doctor --json prints.
type doctorJSON struct {
	Findings []ctl.Finding `json:"findings"`
	OK       bool          `json:"ok"`
}

func (r doctorJSON) of(check string) []ctl.Finding {
	var out []ctl.Finding
	for _, f := range r.Findings {
		if f.Check == check {
			out = append(out, f)
		}
	}
	return out
}

// TestDoctorOnAHealthyInstallExitsZero prevents false alarms: a daemon
// with a connected session gives exit 0, one line per finding, and
// --json says ok.
func TestDoctorOnAHealthyInstallExitsZero(t *testing.T) {
	d, _ := connected(t, nil)
	code, out, errs := wactl(t, d.Socket, "", "doctor")
	if code != 0 || errs != "" {
		t.Fatalf("doctor: exit %d\n%s%s", code, out, errs)
	}
	for _, want := range []string{"ok    socket: wad answers on " + d.Socket, "ok    group: ", "ok    config: ", "ok    state_dir: ", "ok    store: ", "ok    disk: ", "ok    session sales: "} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	code, out, _ = wactl(t, d.Socket, "", "doctor", "--json")
	var r doctorJSON
	if err := json.Unmarshal([]byte(out), &r); code != 0 || err != nil || !r.OK || len(r.of(ctl.CheckSession)) != 1 {
		t.Fatalf("doctor --json: exit %d, %v\n%s", code, err, out)
	}
}

// buildTo builds pkg into dir as name.
func buildTo(t *testing.T, dir, name, pkg string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if out, err := exec.Command("go", "build", "-o", p, pkg).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return p
}

// TestDoctorNamesACallerOutsideTheSocketsGroup prevents the most common
// install problem going unexplained: a user who is not in the socket's
// group cannot connect, and doctor says so, with the usermod that fixes
// it, and exits 1.
func TestDoctorNamesACallerOutsideTheSocketsGroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run wactl as another user")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip(err)
	}
	grp, err := user.LookupGroup("adm")
	if err != nil {
		t.Skip(err)
	}
	d := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{&sessiontest.Backend{}}})
	gid, _ := strconv.Atoi(grp.Gid)
	os.Chmod(filepath.Dir(d.Socket), 0o755)
	if err := os.Chown(d.Socket, 0, gid); err != nil {
		t.Fatal(err)
	}
	os.Chmod(d.Socket, 0o660)
	bin, err := os.MkdirTemp("", "wactl")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(bin)
	os.Chmod(bin, 0o755)
	wactlBin := buildTo(t, bin, "wactl", "github.com/wad-project/wad/cmd/wactl")
	uid, _ := strconv.Atoi(nobody.Uid)
	ngid, _ := strconv.Atoi(nobody.Gid)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, wactlBin, "--socket", d.Socket, "doctor")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/"}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(ngid), Groups: []uint32{}}}
	var out, errs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errs
	err = cmd.Run()
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 1 {
		t.Fatalf("wactl doctor as nobody: %v\n%s%s", err, &out, &errs)
	}
	for _, want := range []string{
		"FAIL  socket: wad does not answer on " + d.Socket + " (owner root (uid 0), group adm, mode 0660: root and members of group adm may use it): ",
		"permission denied",
		"FAIL  group: nobody (uid " + nobody.Uid + ") is not in group adm, so may not use " + d.Socket,
		"fix: sudo usermod -aG adm nobody, then log in again",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in\n%s", want, &out)
		}
	}
}

// TestDoctorWithTheDaemonDownRunsWadDoctor prevents a silent doctor when
// wad is down: it says the daemon does not answer, makes the daemon's
// checks with `wad doctor` on the daemon's config, and names what is
// broken there: a corrupted store and a missing Chromium.
func TestDoctorWithTheDaemonDownRunsWadDoctor(t *testing.T) {
	dir := wadOnPath(t)
	state := filepath.Join(dir, "state")
	os.Mkdir(state, 0o700)
	store := filepath.Join(state, ".wwebjs_auth", "whatsmeow.db")
	doctortest.DamagedStore(t, store)
	config := filepath.Join(dir, "wad.toml")
	os.WriteFile(config, []byte(`socket = "`+filepath.Join(dir, "wad.sock")+`"
state_dir = "`+state+`"
[sessions]
default_backend = "chromedp"
[chromedp]
chrome_path = "/nonexistent/chromium"
`), 0o600)
	code, out, errs := wactl(t, filepath.Join(dir, "wad.sock"), "", "doctor", "--config", config, "--json")
	var r doctorJSON
	if err := json.Unmarshal([]byte(out), &r); code != 1 || err != nil || r.OK {
		t.Fatalf("doctor: exit %d, %v\n%s%s", code, err, out, errs)
	}
	if s := r.of(ctl.CheckSocket); len(s) != 1 || s[0].Status != ctl.FindingFail || !strings.Contains(s[0].Message, "no socket at") {
		t.Errorf("socket: %+v", s)
	}
	if s := r.of(ctl.CheckDaemon); len(s) != 1 || !strings.Contains(s[0].Message, "wad is not answering: the checks below are `") {
		t.Errorf("daemon: %+v", s)
	}
	if s := r.of(ctl.CheckConfig); len(s) != 1 || s[0].Status != ctl.FindingOK || !strings.Contains(s[0].Message, config) {
		t.Errorf("config: %+v", s)
	}
	if s := r.of(ctl.CheckChromium); len(s) != 1 || s[0].Status != ctl.FindingFail || !strings.Contains(s[0].Message, "Chromium missing") {
		t.Errorf("chromium: %+v", s)
	}
	if s := r.of(ctl.CheckStore); len(s) != 2 || s[1].Status != ctl.FindingFail || !strings.Contains(s[1].Message, store+" is damaged") {
		t.Errorf("store: %+v", s)
	}
	// The same, for people.
	code, out, _ = wactl(t, filepath.Join(dir, "wad.sock"), "", "doctor", "--config", config)
	if code != 1 || !strings.Contains(out, "FAIL  store: "+store+" is damaged") || !strings.Contains(out, "      fix: stop wad") {
		t.Errorf("doctor: exit %d\n%s", code, out)
	}
}

// TestUnitFinding prevents a failing wad.service passing: failed or
// restarting fails with the journal to read, restarts warn, a running
// unit is ok, an unknown one is not reported.
func TestUnitFinding(t *testing.T) {
	props := func(s string) map[string]string { return parseProps([]byte(strings.ReplaceAll(s, " ", "\n"))) }
	for _, tc := range []struct {
		props    string
		answered bool
		status   string
	}{
		{"LoadState=loaded ActiveState=active SubState=running NRestarts=0 ExecMainCode=0 Result=success", true, ctl.FindingOK},
		{"LoadState=loaded ActiveState=active SubState=running NRestarts=3 ExecMainCode=0 Result=success", true, ctl.FindingWarn},
		{"LoadState=loaded ActiveState=failed SubState=failed NRestarts=5 ExecMainCode=1 ExecMainStatus=1 Result=exit-code", false, ctl.FindingFail},
		{"LoadState=loaded ActiveState=activating SubState=auto-restart NRestarts=2 ExecMainCode=2 ExecMainStatus=9 Result=signal", false, ctl.FindingFail},
		{"LoadState=loaded ActiveState=inactive SubState=dead NRestarts=0 ExecMainCode=0 Result=success", false, ctl.FindingWarn},
	} {
		f, known := unitFinding(props(tc.props), tc.answered)
		if !known || f.Status != tc.status || f.Check != ctl.CheckUnit || (f.Status == ctl.FindingFail && !strings.Contains(f.Fix, "journalctl -u wad -e")) {
			t.Errorf("%s: %+v", tc.props, f)
		}
	}
	if _, known := unitFinding(props("LoadState=not-found ActiveState=inactive"), false); known {
		t.Error("an unknown unit was reported")
	}
}

// TestDoctorOnADaemonWithoutWadDoctorDoesNotSayItIsDown prevents a
// doctor that contradicts itself: a daemon that answers but does not
// serve wad.doctor (older than wactl) is not reported as "not
// answering" when wactl falls back to `wad doctor`.
func TestDoctorOnADaemonWithoutWadDoctorDoesNotSayItIsDown(t *testing.T) {
	wadOnPath(t)
	var older []ctl.Method
	for _, m := range ctl.Methods {
		if m.Name != ctl.MethodDoctor {
			older = append(older, m)
		}
	}
	d := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{&sessiontest.Backend{}}, Methods: older})
	_, out, errs := wactl(t, d.Socket, "", "doctor", "--json")
	var r doctorJSON
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("doctor: %v\n%s%s", err, out, errs)
	}
	if s := r.of(ctl.CheckSocket); len(s) != 1 || s[0].Status != ctl.FindingFail || !strings.Contains(s[0].Message, "but wad.doctor failed") || !strings.Contains(s[0].Fix, "upgrade wad") {
		t.Errorf("socket: %+v", s)
	}
	if s := r.of(ctl.CheckDaemon); len(s) != 1 || strings.Contains(s[0].Message, "not answering") || !strings.Contains(s[0].Message, "wad answers but did not make its checks") {
		t.Errorf("daemon: %+v", s)
	}
}

// wadOnPath builds wad into a fresh directory, puts it first on PATH for
// the test, and returns the directory (removed at the end).
func wadOnPath(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "wad")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	buildTo(t, dir, "wad", "github.com/wad-project/wad/cmd/wad")
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return dir
}
