package daemon_test

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon"
	"github.com/wad-project/wad/daemon/daemontest"
	"github.com/wad-project/wad/daemon/doctor/doctortest"
	"github.com/wad-project/wad/sessions"
	"github.com/wad-project/wad/sessions/sessiontest"
)

// doctorOf calls wad.doctor on d and returns the findings by check.
func doctorOf(t *testing.T, d *daemontest.Daemon) map[string][]ctl.Finding {
	t.Helper()
	var res ctl.DoctorResult
	if err := d.Client.Call(bg, ctl.MethodDoctor, ctl.Empty{}, &res); err != nil {
		t.Fatalf("wad.doctor: %v", err)
	}
	by := map[string][]ctl.Finding{}
	for _, f := range res.Findings {
		by[f.Check] = append(by[f.Check], f)
	}
	return by
}

// TestDoctorOnAHealthyDaemonFindsNothingWrong prevents false alarms from
// wad.doctor: a fresh daemon with a connected session and a session
// waiting for its QR code fails no check, reports both sessions (the
// second with how to scan), and checks wad.db.
func TestDoctorOnAHealthyDaemonFindsNothingWrong(t *testing.T) {
	web := &sessiontest.Backend{BackendName: "chromedp"}
	d := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{&sessiontest.Backend{Connect: true}, web}})
	if _, err := d.Client.Login(bg, ctl.LoginParams{Client: "sales"}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Client.Login(bg, ctl.LoginParams{Client: "support", Backend: "chromedp"}); err != nil {
		t.Fatal(err)
	}
	by := doctorOf(t, d)
	for check, fs := range by {
		for _, f := range fs {
			if f.Status == ctl.FindingFail {
				t.Errorf("%s failed: %+v", check, f)
			}
		}
	}
	for _, check := range []string{ctl.CheckConfig, ctl.CheckStateDir, ctl.CheckChromium, ctl.CheckStore, ctl.CheckDisk, ctl.CheckSession} {
		if len(by[check]) == 0 {
			t.Errorf("no %s finding: %+v", check, by)
		}
	}
	wadDB := filepath.Join(d.StateDir, "wad.db")
	if st := by[ctl.CheckStore]; len(st) != 2 || st[0].Message != wadDB+": integrity_check ok" {
		t.Errorf("store findings %+v", st)
	}
	sess := by[ctl.CheckSession]
	if len(sess) != 2 || sess[0].Client != "sales" || sess[0].Status != ctl.FindingOK ||
		sess[1].Client != "support" || sess[1].Status != ctl.FindingWarn || !strings.Contains(sess[1].Fix, "`wactl login support`") {
		t.Errorf("session findings %+v", sess)
	}
}

// TestDoctorNamesACorruptedStore prevents a damaged store on disk going
// unseen by a daemon that runs on: garbage over the middle of the
// whatsmeow store fails the store check, naming the file.
func TestDoctorNamesACorruptedStore(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	path := filepath.Join(state, ".wwebjs_auth", "whatsmeow.db")
	doctortest.DamagedStore(t, path)
	d := daemontest.Start(t, daemontest.Options{StateDir: state, Backends: []sessions.Backend{&sessiontest.Backend{}}})
	st := doctorOf(t, d)[ctl.CheckStore]
	if len(st) != 2 || st[0].Status != ctl.FindingOK || st[1].Status != ctl.FindingFail ||
		!strings.HasPrefix(st[1].Message, path+" is damaged") || !strings.Contains(st[1].Fix, "systemctl stop wad") {
		t.Errorf("store findings %+v", st)
	}
}

// TestDoctorNamesAMissingChromium prevents a chromedp install without
// its browser looking healthy: chrome_path pointing nowhere fails the
// chromium check when chromedp is the default backend.
func TestDoctorNamesAMissingChromium(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{
		Backends:       []sessions.Backend{&sessiontest.Backend{}, &sessiontest.Backend{BackendName: "chromedp"}},
		DefaultBackend: "chromedp",
		Config:         func(c *daemon.Config) { c.Chromedp.ChromePath = "/nonexistent/chromium" },
	})
	cr := doctorOf(t, d)[ctl.CheckChromium]
	if len(cr) != 1 || cr[0].Status != ctl.FindingFail || !strings.Contains(cr[0].Message, "Chromium missing") || !strings.Contains(cr[0].Message, "/nonexistent/chromium") {
		t.Errorf("chromium findings %+v", cr)
	}
}

// TestDoctorCallsShareOneRunOfTheHostChecks prevents wad.doctor from
// being a way for any reader to make the daemon start Chromium and read
// every store over and over: calls at once, and calls soon after,
// share one run of the costly checks (Chromium is started with its
// sandbox once), while each still gets the sessions, the state
// directory and the disk of its own moment.
func TestDoctorCallsShareOneRunOfTheHostChecks(t *testing.T) {
	dir := t.TempDir()
	chrome := filepath.Join(dir, "chromium")
	script := "#!/bin/sh\necho 'Chromium 1.0'\n"
	if err := os.WriteFile(chrome, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	runs, restore := daemon.CountDoctorDeep()
	defer restore()
	d := daemontest.Start(t, daemontest.Options{
		Backends: []sessions.Backend{&sessiontest.Backend{Connect: true}},
		Config:   func(c *daemon.Config) { c.Chromedp.ChromePath = chrome },
	})
	var wg sync.WaitGroup
	for range 4 {
		c := d.Dial()
		wg.Go(func() {
			var res ctl.DoctorResult
			if err := c.Call(bg, ctl.MethodDoctor, ctl.Empty{}, &res); err != nil {
				t.Errorf("wad.doctor: %v", err)
			}
		})
	}
	wg.Wait()
	if _, err := d.Client.Login(bg, ctl.LoginParams{Client: "sales"}); err != nil {
		t.Fatal(err)
	}
	by := doctorOf(t, d)
	if cr := by[ctl.CheckChromium]; len(cr) != 1 || cr[0].Status != ctl.FindingOK || !strings.Contains(cr[0].Message, "Chromium 1.0") {
		t.Errorf("chromium findings %+v", cr)
	}
	if s := by[ctl.CheckSession]; len(s) != 1 || s[0].Client != "sales" {
		t.Errorf("a session logged in after the checks ran is not reported: %+v", s)
	}
	if n := runs(); n != 1 {
		t.Errorf("five wad.doctor calls made the costly checks %d times, want once", n)
	}
	// A state directory mended (or broken) shows at the next call.
	state := d.StateDir
	if err := os.Chmod(state, 0o777); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(state, 0o700)
	if sd := doctorOf(t, d)[ctl.CheckStateDir]; len(sd) != 1 || sd[0].Status != ctl.FindingFail {
		t.Errorf("a world-writable state directory is not named at once: %+v", sd)
	}
}
