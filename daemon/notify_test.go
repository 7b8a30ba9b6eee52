package daemon

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// notifySocket listens where sd_notify writes and returns the messages.
func notifySocket(t *testing.T) <-chan string {
	t.Helper()
	path := filepath.Join(shortDir(t), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	ch := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				close(ch)
				return
			}
			ch <- string(buf[:n])
		}
	}()
	return ch
}

func testConfig(t *testing.T) Config {
	dir := shortDir(t)
	cfg := DefaultConfig()
	cfg.Socket = filepath.Join(dir, "wad.sock")
	cfg.StateDir = filepath.Join(dir, "state")
	cfg.Access = nil
	return cfg
}

func TestReadyOnlyOnceServingAndWatchdogStopsWhenRegistryWedges(t *testing.T) {
	msgs := notifySocket(t)
	t.Setenv("WATCHDOG_USEC", "200000") // 200ms: pings every 100ms
	t.Setenv("WATCHDOG_PID", "")
	d, err := New(context.Background(), Options{Config: testConfig(t), Log: discard, Version: "t"})
	if err != nil {
		t.Fatal(err)
	}
	var wedged atomic.Bool
	d.alive = func(ctx context.Context) error {
		if wedged.Load() {
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Serve(ctx) }()

	next := func() string {
		t.Helper()
		select {
		case m := <-msgs:
			return m
		case <-time.After(10 * time.Second):
			t.Fatal("no sd_notify message")
		}
		return ""
	}
	first := next()
	if !strings.HasPrefix(first, "READY=1") || !strings.Contains(first, "STATUS=0 sessions") {
		t.Fatalf("first notification %q", first)
	}
	// The socket answers by the time READY=1 was sent.
	c, err := net.Dial("unix", d.SocketPath())
	if err != nil {
		t.Fatalf("READY=1 before the socket serves: %v", err)
	}
	c.Close()
	pings := 0
	for pings < 3 {
		if strings.Contains(next(), "WATCHDOG=1") {
			pings++
		}
	}
	wedged.Store(true)
	time.Sleep(150 * time.Millisecond) // let a ping in flight land
	for len(msgs) > 0 {
		<-msgs
	}
	select {
	case m := <-msgs:
		if strings.Contains(m, "WATCHDOG=1") {
			t.Fatalf("watchdog pinged while the registry was wedged: %q", m)
		}
	case <-time.After(600 * time.Millisecond):
	}
	wedged.Store(false)
	for !strings.Contains(next(), "WATCHDOG=1") {
	}

	d.Reload(filepath.Join(shortDir(t), "missing.toml"), nil)
	if m := next(); !strings.HasPrefix(m, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Fatalf("reload notification %q", m)
	}
	for m := next(); !strings.HasPrefix(m, "READY=1"); m = next() {
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for m := next(); !strings.Contains(m, "STOPPING=1"); m = next() {
	}
}

func TestReloadAppliesLimitsAndKeepsWhatNeedsARestart(t *testing.T) {
	cfg := testConfig(t)
	d, err := New(context.Background(), Options{Config: cfg, Log: discard, Notify: func(string) {}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.ln.Close()
	p := filepath.Join(shortDir(t), "wad.toml")
	os.WriteFile(p, []byte(`socket = "/elsewhere/wad.sock"
state_dir = "`+cfg.StateDir+`"
log_level = "debug"
[sessions]
max_sessions = 9
`), 0o600)
	level := new(slog.LevelVar)
	d.Reload(p, level)
	if d.reg.MaxSessions() != 9 || level.Level().String() != "DEBUG" {
		t.Fatalf("reload did not apply: max %d level %v", d.reg.MaxSessions(), level.Level())
	}
	if d.config().Socket != cfg.Socket {
		t.Fatalf("socket changed without a restart: %s", d.config().Socket)
	}
	os.WriteFile(p, []byte("max_sessions = 1\n"), 0o600) // unknown top-level key
	d.Reload(p, level)
	if d.reg.MaxSessions() != 9 {
		t.Fatal("a bad config was applied")
	}
}
