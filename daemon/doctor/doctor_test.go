package doctor

import (
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon/doctor/doctortest"
	"github.com/wad-project/wad/internal/store"
	"github.com/wad-project/wad/sessions/chromedp"
	"github.com/wad-project/wad/sessions/whatsmeow"
)

var bg = context.Background()

// find returns the findings of check.
func find(fs []ctl.Finding, check string) []ctl.Finding {
	var out []ctl.Finding
	for _, f := range fs {
		if f.Check == check {
			out = append(out, f)
		}
	}
	return out
}

// only returns the one finding of check, or fails the test.
func only(t *testing.T, fs []ctl.Finding, check string) ctl.Finding {
	t.Helper()
	got := find(fs, check)
	if len(got) != 1 {
		t.Fatalf("%d %s findings, want 1: %+v", len(got), check, fs)
	}
	return got[0]
}

func nobody(t *testing.T) *user.User {
	t.Helper()
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody:", err)
	}
	return u
}

// stateDir returns a fresh state directory (0700, the caller's) with the
// daemon's wad.db in it.
func stateDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(bg, filepath.Join(dir, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	return dir
}

// TestEveryReasonHasAFix prevents a session reason that doctor reports
// without saying what to do: every ctl.Reason* constant has a fix.
func TestEveryReasonHasAFix(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "../../ctl/types.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	ast.Inspect(f, func(node ast.Node) bool {
		vs, ok := node.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range vs.Names {
			if !strings.HasPrefix(name.Name, "Reason") || i >= len(vs.Values) {
				continue
			}
			lit, ok := vs.Values[i].(*ast.BasicLit)
			if !ok {
				continue
			}
			reason, _ := strconv.Unquote(lit.Value)
			n++
			if fix := ReasonFix("sales", reason); fix == "" {
				t.Errorf("ctl.%s (%q) has no fix", name.Name, reason)
			}
			for _, st := range []ctl.State{ctl.StateFailed, ctl.StateDisconnected, ctl.StateStopped, ctl.StateLoggedOut} {
				if f := session(ctl.Session{Client: "sales", State: st, Reason: reason}); f.Status == ctl.FindingOK || f.Fix == "" || strings.Contains(f.Fix, "CLIENT") {
					t.Errorf("%s/%s: %+v", st, reason, f)
				}
			}
		}
		return true
	})
	if n < 20 {
		t.Fatalf("found only %d Reason constants in ctl/types.go; the check proves nothing", n)
	}
}

// TestSessionFindings prevents a session finding that hides a problem or
// raises a false alarm: connected is ok, a QR code waiting is a warning
// saying to scan it, failed and logged out (from the phone) fail.
func TestSessionFindings(t *testing.T) {
	for _, tc := range []struct {
		s      ctl.Session
		status string
		fix    string
	}{
		{ctl.Session{Client: "sales", Backend: "whatsmeow", State: ctl.StateConnected, JID: "491701234567:3@s.whatsapp.net"}, ctl.FindingOK, ""},
		{ctl.Session{Client: "sales", State: ctl.StateConnected, Reason: ctl.ReasonPhoneOffline}, ctl.FindingWarn, "open WhatsApp on the phone"},
		{ctl.Session{Client: "sales", State: ctl.StateQR}, ctl.FindingWarn, "`wactl login sales`"},
		{ctl.Session{Client: "sales", State: ctl.StateFailed, Reason: ctl.ReasonMemoryLimit}, ctl.FindingFail, "raise memory_max"},
		{ctl.Session{Client: "sales", State: ctl.StateLoggedOut, Reason: ctl.ReasonMainDeviceGone}, ctl.FindingFail, "log in again"},
		{ctl.Session{Client: "sales", State: ctl.StateLoggedOut, Reason: ctl.ReasonLoggedOut}, ctl.FindingFail, "log in again"},
		{ctl.Session{Client: "sales", State: ctl.StateFailed, Reason: ctl.ReasonNetwork}, ctl.FindingFail, "reaches WhatsApp"},
		{ctl.Session{Client: "sales", State: ctl.StateStopped, Reason: ctl.ReasonStopped}, ctl.FindingWarn, "resumes"},
	} {
		f := only(t, Sessions([]ctl.Session{tc.s}), ctl.CheckSession)
		if f.Status != tc.status || f.Client != "sales" || !strings.Contains(f.Fix, tc.fix) || (tc.status == ctl.FindingOK) != (f.Fix == "") {
			t.Errorf("%s/%s: %+v, want %s with a fix saying %q", tc.s.State, tc.s.Reason, f, tc.status, tc.fix)
		}
	}
}

// TestDevicesAgainstTheLimit prevents a full "Linked devices" going
// unnoticed: four companions is a warning, fewer is ok, an account whose
// devices are unknown gets no finding, and only connected whatsmeow
// sessions are asked.
func TestDevicesAgainstTheLimit(t *testing.T) {
	counts := map[string]int{"full": 5, "room": 2}
	var asked []string
	count := func(_ context.Context, s ctl.Session) (int, error) {
		asked = append(asked, s.Client)
		if n, ok := counts[s.Client]; ok {
			return n, nil
		}
		return 0, errors.New("timeout")
	}
	ss := []ctl.Session{
		{Client: "full", Backend: whatsmeow.Name, State: ctl.StateConnected, JID: "491700000001:4@s.whatsapp.net"},
		{Client: "room", Backend: whatsmeow.Name, State: ctl.StateConnected, JID: "491700000002:1@s.whatsapp.net"},
		{Client: "unknown", Backend: whatsmeow.Name, State: ctl.StateConnected, JID: "491700000003:1@s.whatsapp.net"},
		{Client: "browser", Backend: chromedp.Name, State: ctl.StateConnected, JID: "491700000004@c.us"},
		{Client: "qr", Backend: whatsmeow.Name, State: ctl.StateQR},
	}
	fs := Devices(bg, ss, count)
	if strings.Join(asked, ",") != "full,room,unknown" {
		t.Errorf("asked %v", asked)
	}
	if len(fs) != 2 || fs[0].Client != "full" || fs[0].Status != ctl.FindingWarn || !strings.Contains(fs[0].Message, "4 of 4") || fs[0].Fix == "" ||
		fs[1].Client != "room" || fs[1].Status != ctl.FindingOK || !strings.Contains(fs[1].Message, "1 of 4") {
		t.Errorf("findings %+v", fs)
	}
	if got := UserJID("491700000001:4@s.whatsapp.net"); got != "491700000001@s.whatsapp.net" {
		t.Errorf("UserJID: %s", got)
	}
}

// TestHealthyStateDirPasses prevents false alarms on a healthy install:
// a 0700 state directory of the daemon's user, an intact wad.db, the
// installed Chromium (its version) and its sandbox as an unprivileged
// user, all ok.
func TestHealthyStateDirPasses(t *testing.T) {
	if _, err := (chromedp.Config{}).ExecPath(); err != nil {
		t.Skip("no Chromium:", err)
	}
	dir := stateDir(t)
	u, _ := user.Current()
	if os.Geteuid() == 0 {
		u = nobody(t)
		os.Chown(dir, mustAtoi(u.Uid), mustAtoi(u.Gid))
	}
	fs := Run(bg, Options{StateDir: dir, DefaultBackend: chromedp.Name, User: u})
	for _, f := range fs {
		if f.Status != ctl.FindingOK && !(f.Check == ctl.CheckDisk && f.Status == ctl.FindingWarn) {
			t.Errorf("%+v", f)
		}
	}
	if c := only(t, fs, ctl.CheckChromium); !strings.Contains(c.Message, "Chromium") && !strings.Contains(c.Message, "Chrome") {
		t.Errorf("chromium finding without a version: %+v", c)
	}
	only(t, fs, ctl.CheckSandbox)
	if st := find(fs, ctl.CheckStore); len(st) != 2 || !strings.Contains(st[0].Message, "integrity_check ok") || !strings.Contains(st[1].Message, "not created yet") {
		t.Errorf("store findings %+v", st)
	}
}

func mustAtoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(err)
	}
	return n
}

// TestStateDirOwnedByRootFails prevents a state directory the daemon
// cannot write looking fine: owned by root while wad runs as another
// user, it fails with the chown that fixes it; open to others, it fails
// with the chmod.
func TestStateDirOwnedByRootFails(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to own a directory by root")
	}
	dir := stateDir(t)
	u := nobody(t)
	f := StateDir(dir, u)
	if f.Status != ctl.FindingFail || !strings.Contains(f.Message, "belongs to root (uid 0), not to nobody") || !strings.HasPrefix(f.Fix, "sudo chown -R nobody:") || !strings.HasSuffix(f.Fix, dir) {
		t.Errorf("owned by root: %+v", f)
	}
	root, _ := user.Current()
	if f := StateDir(dir, root); f.Status != ctl.FindingOK {
		t.Errorf("owned by its user: %+v", f)
	}
	os.Chmod(dir, 0o755)
	if f := StateDir(dir, root); f.Status != ctl.FindingFail || f.Fix != "sudo chmod 0750 "+dir {
		t.Errorf("mode 0755: %+v", f)
	}
}

// TestCorruptedStoreFails prevents on-disk damage going unseen: garbage
// over the middle pages of a store fails integrity_check, naming the
// file, and the fix says what moving it aside costs.
func TestCorruptedStoreFails(t *testing.T) {
	dir := stateDir(t)
	path := filepath.Join(dir, whatsmeow.AuthDir, whatsmeow.DBFile)
	doctortest.DamagedStore(t, path)
	fs := Stores(bg, dir)
	if fs[0].Status != ctl.FindingOK {
		t.Errorf("wad.db: %+v", fs[0])
	}
	f := fs[1]
	if f.Status != ctl.FindingFail || !strings.Contains(f.Message, path+" is damaged") || !strings.Contains(f.Fix, "wactl login") {
		t.Errorf("corrupted whatsmeow.db: %+v", f)
	}
}

// TestChromiumMissingIsNamed prevents a missing browser going unnoticed
// where it matters: it fails when chromedp is needed, is a warning when
// not, and no sandbox check pretends to run.
func TestChromiumMissingIsNamed(t *testing.T) {
	cfg := chromedp.Config{ChromePath: "/nonexistent/chromium"}
	dir := stateDir(t)
	fs := Run(bg, Options{StateDir: dir, DefaultBackend: chromedp.Name, Chromedp: cfg})
	if f := only(t, fs, ctl.CheckChromium); f.Status != ctl.FindingFail || !strings.Contains(f.Message, "Chromium missing") || !strings.Contains(f.Message, "/nonexistent/chromium") || !strings.Contains(f.Fix, "apt install chromium") {
		t.Errorf("chromedp default: %+v", f)
	}
	if len(find(fs, ctl.CheckSandbox)) != 0 {
		t.Errorf("sandbox checked without a browser: %+v", fs)
	}
	fs = Run(bg, Options{StateDir: dir, DefaultBackend: whatsmeow.Name, Chromedp: cfg})
	if f := only(t, fs, ctl.CheckChromium); f.Status != ctl.FindingWarn {
		t.Errorf("whatsmeow default: %+v", f)
	}
	fs = Run(bg, Options{StateDir: dir, DefaultBackend: whatsmeow.Name, Chromedp: cfg, Sessions: []ctl.Session{{Client: "web", Backend: chromedp.Name, State: ctl.StateStopped}}})
	if f := only(t, fs, ctl.CheckChromium); f.Status != ctl.FindingFail {
		t.Errorf("a chromedp session: %+v", f)
	}
}

// TestSandboxAsRootIsAWarning prevents a root daemon's sandbox-less
// browsers passing unremarked.
func TestSandboxAsRootIsAWarning(t *testing.T) {
	root := &user.User{Uid: "0", Gid: "0", Username: "root"}
	if f := Sandbox(bg, "/bin/false", root); f.Status != ctl.FindingWarn || f.Fix != "run wad as user wad (the packaged unit does)" {
		t.Errorf("%+v", f)
	}
}

// TestDiskThresholds prevents a filling disk going unnoticed.
func TestDiskThresholds(t *testing.T) {
	const gib = 1 << 30
	for _, tc := range []struct {
		free, total uint64
		status      string
	}{
		{50 * gib, 100 * gib, ctl.FindingOK},
		{5 * gib, 100 * gib, ctl.FindingWarn},
		{512 << 20, 2 * gib, ctl.FindingWarn},
		{1 * gib, 100 * gib, ctl.FindingFail},
		{100 << 20, 400 << 20, ctl.FindingFail},
		{70 * gib, 4096 * gib, ctl.FindingOK}, // 1.7% of a large disk is plenty
		{8 * gib, 4096 * gib, ctl.FindingWarn},
		{1536 << 20, 4096 * gib, ctl.FindingFail},
	} {
		if f := diskFinding("/var/lib/wad", tc.free, tc.total); f.Status != tc.status {
			t.Errorf("%d of %d free: %+v, want %s", tc.free, tc.total, f, tc.status)
		}
	}
	if f := Disk(t.TempDir()); f.Status == "" || !strings.Contains(f.Message, "free") {
		t.Errorf("%+v", f)
	}
}
