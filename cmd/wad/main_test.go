package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
)

// TestMain lets the test binary act as wad itself, so the tests below run
// the real command in a child process and signal it.
func TestMain(m *testing.M) {
	if os.Getenv("WAD_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func startWad(t *testing.T, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "WAD_TEST_MAIN=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, &out
}

func TestSIGTERMStopsCleanlyAndRemovesSocket(t *testing.T) {
	dir, _ := os.MkdirTemp("", "wad")
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "run", "wad.sock")
	cfg := filepath.Join(dir, "wad.toml")
	os.WriteFile(cfg, []byte(`socket = "`+sock+`"
state_dir = "`+filepath.Join(dir, "state")+`"
[sessions]
max_sessions = 5
[whatsmeow]
# Everything goes through a proxy on a closed loopback port: the test
# never reaches WhatsApp.
proxy = "http://127.0.0.1:9"
[chromedp]
chrome_path = "/nonexistent/chromium"
`), 0o600)
	cmd, out := startWad(t, "--config", cfg)
	var c *ctl.Client
	deadline := time.Now().Add(20 * time.Second)
	for {
		var err error
		c, err = ctl.Dial(context.Background(), sock)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon did not come up: %v\n%s", err, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	st, err := c.Status(context.Background())
	if err != nil || st.MaxSessions != 5 || st.PID != cmd.Process.Pid {
		t.Fatalf("status: %+v, %v", st, err)
	}
	// The real whatsmeow backend, offline: the login fails cleanly with
	// a network error and the daemon keeps serving.
	_, err = c.Login(context.Background(), ctl.LoginParams{Client: "sales"})
	if !errors.Is(err, ctl.ErrUpstream) {
		t.Fatalf("offline login: %v\n%s", err, out)
	}
	if s, err := c.Session(context.Background(), "sales"); err != nil || s.State != ctl.StateFailed || s.Reason != ctl.ReasonNetwork {
		t.Fatalf("after an offline login: %+v, %v", s, err)
	}
	_, err = c.Login(context.Background(), ctl.LoginParams{Client: "web", Backend: "chromedp"})
	if !errors.Is(err, ctl.ErrUnavailable) || !strings.Contains(err.Error(), "/nonexistent/chromium") {
		t.Fatalf("chromedp login without Chromium: %v", err)
	}
	c.Close()

	// A second daemon on the same socket is refused and leaves it alone.
	second := exec.Command(os.Args[0], "--config", cfg)
	second.Env = append(os.Environ(), "WAD_TEST_MAIN=1")
	if b, err := second.CombinedOutput(); err == nil || !strings.Contains(string(b), "already running") {
		t.Fatalf("second daemon: %v\n%s", err, b)
	}

	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, out)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no exit after SIGTERM\n%s", out)
	}
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Fatalf("socket left behind: %v", err)
	}
}

func TestCheckConfigAndVersion(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run([]string{"version"}, &out, &errb); err != nil || !strings.HasPrefix(out.String(), "wad ") {
		t.Fatalf("version: %v %q", err, out.String())
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("[sessions]\nmax_sesions = 3\n"), 0o600)
	err := run([]string{"check-config", "--config", bad}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), `bad.toml:2: unknown key "sessions.max_sesions"`) {
		t.Fatalf("check-config: %v", err)
	}
	out.Reset()
	if err := run([]string{"check-config"}, &out, &errb); err != nil || !strings.Contains(out.String(), "ok") {
		t.Fatalf("check-config on defaults: %v %q", err, out.String())
	}
	noChrome := filepath.Join(dir, "nochrome.toml")
	os.WriteFile(noChrome, []byte("[sessions]\ndefault_backend = \"chromedp\"\n[chromedp]\nchrome_path = \"/opt/missing/chrome\"\n"), 0o600)
	if err := run([]string{"check-config", "--config", noChrome}, &out, &errb); err == nil || !strings.Contains(err.Error(), "/opt/missing/chrome") {
		t.Fatalf("check-config with chromedp default and no Chromium: %v", err)
	}
	os.WriteFile(noChrome, []byte("[chromedp]\nchrome_path = \"/opt/missing/chrome\"\n"), 0o600)
	out.Reset()
	if err := run([]string{"check-config", "--config", noChrome}, &out, &errb); err != nil || !strings.Contains(out.String(), "warning: chromedp backend unavailable") {
		t.Fatalf("check-config with a missing optional Chromium: %v %q", err, out.String())
	}
	if err := run([]string{"bogus"}, &out, &errb); err == nil {
		t.Fatal("unknown command accepted")
	}
}

func TestReapDryRunChangesNothingThenReapResets(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	profile := filepath.Join(state, ".wwebjs_auth", "session-sales", "Default")
	os.MkdirAll(profile, 0o700)
	os.WriteFile(filepath.Join(profile, "Cookies"), []byte("c"), 0o600)
	os.MkdirAll(filepath.Join(state, ".wwebjs_cache"), 0o700)
	os.WriteFile(filepath.Join(state, ".wwebjs_cache", "2.3000.1.html"), []byte("<html>"), 0o600)
	os.WriteFile(filepath.Join(state, "keep.txt"), []byte("not ours to remove"), 0o600)
	cfg := filepath.Join(dir, "wad.toml")
	os.WriteFile(cfg, []byte(`state_dir = "`+state+`"`+"\n"), 0o600)

	var out, errb bytes.Buffer
	if err := run([]string{"reap", "--config", cfg, "--dry-run"}, &out, &errb); err != nil {
		t.Fatalf("dry run: %v\n%s", err, errb.String())
	}
	if !strings.Contains(out.String(), ".wwebjs_auth") || !strings.Contains(out.String(), ".wwebjs_cache") {
		t.Fatalf("dry run plan does not name the trees: %q", out.String())
	}
	if _, err := os.Stat(filepath.Join(profile, "Cookies")); err != nil {
		t.Fatalf("dry run removed files: %v", err)
	}
	errb.Reset()
	if err := run([]string{"reap", "--config", cfg}, &out, &errb); err != nil {
		t.Fatalf("reap: %v", err)
	}
	logs := errb.String()
	if !strings.Contains(logs, "Cleaning up session directories and processes on startup") || !strings.Contains(logs, "reaped (mode reset)") {
		t.Fatalf("reap log lacks the start line or the summary:\n%s", logs)
	}
	for _, gone := range []string{".wwebjs_auth", ".wwebjs_cache"} {
		if _, err := os.Lstat(filepath.Join(state, gone)); !os.IsNotExist(err) {
			t.Errorf("%s survived the reap: %v", gone, err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(state, "keep.txt")); err != nil || string(b) != "not ours to remove" {
		t.Fatalf("reap touched a file beside the two trees: %v", err)
	}
	if err := run([]string{"reap", "--config", filepath.Join(dir, "missing.toml")}, &out, &errb); err == nil {
		t.Fatal("reap with a missing config succeeded")
	}
}

// TestDelegateNeverFailsTheStart prevents `wad delegate` (ExecStartPre=+)
// from stopping wad where cgroups cannot be handed over: outside a
// service's cgroup it prints a notice and succeeds, and changes nothing;
// only a missing or unknown --user is an error.
func TestDelegateNeverFailsTheStart(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run([]string{"delegate", "--user", "nobody"}, &out, &errb); err != nil {
		t.Fatalf("delegate from a test: %v\n%s", err, errb.String())
	}
	if !strings.Contains(out.String(), "wad delegate: notice: no delegated cgroup subtree") {
		t.Errorf("no notice: %q", out.String())
	}
	if err := run([]string{"delegate", "--user", "0"}, &out, &errb); err != nil {
		t.Errorf("numeric --user: %v", err)
	}
	if err := run([]string{"delegate"}, &out, &errb); err == nil || !strings.Contains(err.Error(), "--user") {
		t.Errorf("without --user: %v", err)
	}
	if err := run([]string{"delegate", "--user", "no-such-user-wad"}, &out, &errb); err == nil {
		t.Error("an unknown user succeeded")
	}
	out.Reset()
	run([]string{"help"}, &out, &errb)
	if !strings.Contains(out.String(), "delegate ") {
		t.Error("usage does not list delegate")
	}
}
