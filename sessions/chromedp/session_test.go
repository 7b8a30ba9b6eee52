package chromedp

import (
	"context"
	"encoding/base64"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/sessions"
)

// fakeKey is the fake's deterministic key material (see fake.js keyBytes).
func fakeKey(seed int) string {
	b := make([]byte, 32)
	for i := range b {
		b[i] = byte((i*7 + seed) & 255)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// Prevents: QR strings that WhatsApp on the phone cannot read (wrong
// parts or order), sessions reported connected before WhatsApp Web has
// synced, and messages sent to the wrong chat or not at all.
func TestLoginQRConnectSendLogout(t *testing.T) {
	t.Parallel()
	f := newFakeWA(t)
	e := newEnv(t, "", Config{WebURL: f.url("")})
	sub := e.reg.Bus().Subscribe([]string{"alice"}, nil)

	st, dev := e.loginQR("alice")
	parts := strings.Split(st.QR, ",")
	want := []string{parts[0], fakeKey(1), fakeKey(2), fakeKey(3), "Chrome"}
	if strings.Join(parts, ",") != strings.Join(want, ",") {
		t.Fatalf("QR = %q, want ref,noise key,identity key,adv secret,platform = %q", st.QR, strings.Join(want, ","))
	}
	if st.PID <= 0 || st.RSSBytes <= 0 {
		t.Errorf("status lacks the browser's pid or RSS: pid=%d rss=%d", st.PID, st.RSSBytes)
	}
	if _, err := e.reg.Send(context.Background(), "alice", "+4915112345678", "too early"); codeOf(err) != ctl.CodeSessionNotReady {
		t.Errorf("send before connected: err %v, want session not ready", err)
	}

	// The QR rotates every second; every new one is published.
	e.waitState("alice", 10*time.Second, func(s ctl.Session) bool { return s.State == ctl.StateQR && s.QR != st.QR })

	f.scan(dev)
	conn := e.waitState("alice", 30*time.Second, inState(ctl.StateConnected))
	if conn.JID != "4900000000000@s.whatsapp.net" {
		t.Errorf("JID = %q, want the fake's own number as @s.whatsapp.net", conn.JID)
	}

	res, err := e.reg.Send(context.Background(), "alice", "+4915112345678", "hello from wad")
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	if res.ID == "" || res.Timestamp.IsZero() {
		t.Errorf("send result %+v lacks id or timestamp", res)
	}
	sent := f.sentBy(dev)
	if len(sent) != 1 || sent[0].To != "4915112345678@c.us" || sent[0].Body != "hello from wad" || sent[0].ID != res.ID {
		t.Fatalf("fake recorded %+v, want one message to 4915112345678@c.us with id %s", sent, res.ID)
	}

	// Incoming messages become message events.
	f.deliver(dev, "4917700000001@c.us", "hi wad")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var got *ctl.Message
	for got == nil {
		ev, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("no message event: %v", err)
		}
		if ev.Kind == ctl.KindMessage && ev.Message != nil && !ev.Message.FromMe {
			got = ev.Message
		}
	}
	if got.Text != "hi wad" || got.Chat != "4917700000001@s.whatsapp.net" || got.Sender != "4917700000001@s.whatsapp.net" || got.Type != "text" || got.ID == "" {
		t.Errorf("message event %+v, want text 'hi wad' from 4917700000001@s.whatsapp.net", got)
	}

	// Logout: in-page logout, post_logout navigation, profile deleted.
	s := e.session("alice")
	pid := conn.PID
	if _, err := e.reg.Logout(context.Background(), "alice"); err != nil {
		t.Fatalf("logout: %v", err)
	}
	if ev := f.eventsOf(dev); !contains(ev, "logout") {
		t.Errorf("the page never logged out: events %v", ev)
	}
	if _, err := os.Stat(s.Profile()); !os.IsNotExist(err) {
		t.Errorf("profile %s still exists after logout (err %v)", s.Profile(), err)
	}
	if st := s.status(); st.State != ctl.StateLoggedOut || st.PID != 0 {
		t.Errorf("after logout: %+v, want logged_out without a pid", st)
	}
	waitNoProcesses(t, s.Profile(), 5*time.Second)
	_ = pid
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Prevents: a missing Chromium crashing the daemon or failing with an
// unhelpful error; the user must see -32003 and the path that was tried,
// both at login and from `wad check-config`.
func TestMissingChromePath(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"/nonexistent/bin/chromium", "no-such-chromium-here"} {
		cfg := Config{ChromePath: path}
		err := cfg.Check()
		if codeOf(err) != ctl.CodeBackendUnavailable || !strings.Contains(err.Error(), path) {
			t.Errorf("Check with chrome_path %q: %v, want -32003 naming the path", path, err)
		}
		e := newEnv(t, "", cfg)
		_, err = e.reg.Login(context.Background(), "bob", sessions.LoginOptions{})
		if codeOf(err) != ctl.CodeBackendUnavailable || !strings.Contains(err.Error(), path) {
			t.Errorf("login with chrome_path %q: %v, want -32003 naming the path", path, err)
		}
	}
}

// Prevents: an empty chrome_path silently picking nothing; the error must
// name the executables looked for.
func TestNoBrowserOnPath(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	err := Config{}.Check()
	if codeOf(err) != ctl.CodeBackendUnavailable || !strings.Contains(err.Error(), "chromium") {
		t.Errorf("Check with no browser on PATH: %v, want -32003 naming chromium", err)
	}
}
