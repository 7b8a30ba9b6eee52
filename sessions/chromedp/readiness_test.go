package chromedp

import (
	"context"
	"github.com/wad-project/wad/internal/syncbuf"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/sessions"
)

// Prevents: a readiness check so strict that working sessions are
// reported dead (the old service called Store functions to test them).
// On the "cold" page every Store function wad needs exists but throws
// when called until the page has warmed up: the session must still come
// up connected, log "Store objects functional", survive a send that
// fails while cold, and send once warm.
func TestReadinessChecksStoreByExistenceNotByCalling(t *testing.T) {
	t.Parallel()
	f := newFakeWA(t)
	logs := &syncbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	dir := t.TempDir()
	b, err := New(Config{WebURL: f.url("cold")}, dir, log)
	if err != nil {
		t.Fatal(err)
	}
	reg := sessions.New(sessions.Config{StateDir: dir, DefaultBackend: Name, StartTimeout: 90 * time.Second, Log: log}, b)
	e := &env{t: t, b: b, reg: reg, stateDir: dir}
	t.Cleanup(e.close)

	_, dev := e.loginQR("cold")
	f.scan(dev)
	e.waitState("cold", 30*time.Second, inState(ctl.StateConnected))
	if !strings.Contains(logs.String(), "Store objects functional") {
		t.Fatalf("no \"Store objects functional\" in the log:\n%s", logs.String())
	}
	ctx := context.Background()
	if _, err := reg.Send(ctx, "cold", "+4915100000009", "too early"); err == nil {
		t.Fatal("a send on the cold page succeeded: the fake's traps are not armed, so this test proves nothing")
	}
	if st, _ := reg.Get("cold"); st.State != ctl.StateConnected {
		t.Fatalf("a failed send killed a working session: %+v", st)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := reg.Send(ctx, "cold", "+4915100000009", "warm now")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the warmed-up session never sent: %v", err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if sent := f.sentBy(dev); len(sent) != 1 || sent[0].Body != "warm now" {
		t.Fatalf("fake recorded %+v", sent)
	}
}
