package chromedp

import (
	"context"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/sessions"
)

// Prevents: a message the outbound queue gave an id going under another
// one (a resend after a crash would then not be recognisable as the same
// message), and a revoke whose id the result does not name.
func TestSendGoesUnderTheCallersID(t *testing.T) {
	t.Parallel()
	f := newFakeWA(t)
	e := newEnv(t, "", Config{WebURL: f.url("")})
	const client = "newid"
	sub := e.reg.Bus().Subscribe([]string{client}, nil)
	_, dev := e.connect(f, client)
	do := func(op sessions.Op) ctl.SendResult {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		res, err := e.reg.Do(ctx, client, op)
		if err != nil {
			t.Fatalf("%s: %v", op.Method(), err)
		}
		return res.(ctl.SendResult)
	}
	const peer, peerWeb = "4917700000011@s.whatsapp.net", "4917700000011@c.us"

	const id = "3EB0A1B2C3D4E5F6A7B8C9"
	res := do(sessions.Send{NewID: id, To: peer, Text: "unter meiner id"})
	if res.ID != id || res.Timestamp.IsZero() {
		t.Fatalf("send result %+v, want id %s and a timestamp", res, id)
	}
	if got := f.lastSent(t, dev, "msg"); got.ID != id || got.Body != "unter meiner id" || got.To != peerWeb {
		t.Fatalf("fake recorded %+v, want the text under %s", got, id)
	}
	if ev := waitEvent(t, sub, "own message", isMsgFrom(peer, id)).Message; !ev.FromMe || ev.Text != "unter meiner id" {
		t.Fatalf("own message event %+v", ev)
	}

	// Without an id, WhatsApp Web makes one.
	other := do(sessions.Send{To: peer, Text: "ohne id"})
	if got := f.lastSent(t, dev, "msg"); other.ID == "" || other.ID == id || got.ID != other.ID {
		t.Fatalf("send without an id: result %+v, fake recorded %+v; want a fresh id", other, got)
	}

	rv := do(sessions.Revoke{Chat: peer, ID: id})
	if got := f.lastSent(t, dev, "revoke"); got.Target != id || got.ID == "" || rv.ID != got.ID {
		t.Fatalf("revoke result %+v, fake recorded %+v; want the revoke's own id", rv, got)
	}
}
