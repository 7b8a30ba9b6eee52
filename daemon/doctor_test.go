package daemon_test

import (
	"bytes"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon"
	"github.com/wad-project/wad/daemon/daemontest"
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
	writeDamagedStore(t, path)
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

// writeDamagedStore writes a SQLite database of a few hundred pages at
// path and overwrites pages in its middle with garbage.
func writeDamagedStore(t *testing.T, path string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o700)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)",
		"CREATE INDEX t_v ON t(v)",
		"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 3000) INSERT INTO t SELECT i, printf('%0200d', i) FROM n",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xA5, 0x5A, 0x00, 0xFF}, 20*1024), fi.Size()/2); err != nil {
		t.Fatal(err)
	}
}
