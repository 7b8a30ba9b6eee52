package whatsmeow_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/internal/wafake"
)

// These tests hold conversations between a wad session and a contact on
// the fake WhatsApp: the contact's phone has its own Signal identity, so
// what wad sends is decrypted there with libsignal, and what the contact
// sends is encrypted to the prekeys wad uploaded.

func waitCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestSentTextIsDecryptedByTheContactAndReceiptsComeBack(t *testing.T) {
	srv, _, d := newDaemon(t, wafake.Options{})
	me := newAccount(t, srv, "4915112340010", "Sales")
	contact := newAccount(t, srv, "4917612340011", "Kunde")
	linkOverSocket(t, d, me, "sales")
	w := watch(t, d, "sales")
	ctx := waitCtx(t)

	for i, text := range []string{"Grüße aus dem Lager 📦\nzweite Zeile", "second message"} {
		res, err := d.Client.Send(ctx, ctl.SendParams{Wait: true, Client: "sales", To: "+" + contact.Phone, Text: text})
		if err != nil {
			t.Fatalf("message.send: %v", err)
		}
		if res.ID == "" || res.Timestamp.IsZero() {
			t.Fatalf("message.send result %+v, want the server's id and time", res)
		}
		got, err := contact.WaitMessage(ctx, func(m wafake.Message) bool { return m.ID == res.ID && !m.IsFromMe })
		if err != nil {
			t.Fatalf("the contact never got %s: %v", res.ID, err)
		}
		if got.Err != nil || got.Text() != text {
			t.Fatalf("the contact decrypted %q (%v), want exactly %q", got.Text(), got.Err, text)
		}
		if got.Sender.User != me.Phone || got.Chat.User != me.Phone {
			t.Fatalf("message from %s in chat %s", got.Sender, got.Chat)
		}
		if want := []string{"pkmsg", "msg"}[i]; got.EncType != want {
			t.Errorf("message %d came as %s, want %s", i, got.EncType, want)
		}
		// The contact's phone got it: a delivery receipt reaches wad.
		if rc := receiptOf(t, w, res.ID, "delivered"); rc.Chat != contact.JID().String() {
			t.Fatalf("receipt event %+v, want it from %s", rc, contact.JID())
		}
		if i == 0 {
			// The contact answers, so the next message rides on the
			// established session (msg instead of pkmsg).
			if _, err := contact.SendText(me.JID(), "danke"); err != nil {
				t.Fatal(err)
			}
			skipToKind(t, w, ctl.KindMessage)
		}
		if err := contact.MarkRead(me.JID(), res.ID); err != nil {
			t.Fatal(err)
		}
		receiptOf(t, w, res.ID, "read")
	}
	// wad's own phone got the copy every linked device gets.
	if _, err := me.WaitMessage(ctx, func(m wafake.Message) bool { return m.IsFromMe && m.Text() == "second message" }); err != nil {
		t.Fatalf("the account's phone never got its copy: %v", err)
	}
}

func TestContactMessageArrivesAsAnEventAndIsAcknowledged(t *testing.T) {
	srv, _, d := newDaemon(t, wafake.Options{})
	me := newAccount(t, srv, "4915112340020", "Support")
	contact := newAccount(t, srv, "4917612340021", "Kundin")
	jid := linkOverSocket(t, d, me, "support")
	w := watch(t, d, "support")
	ctx := waitCtx(t)

	sent, err := contact.SendMessage(me.JID(), textMessage("Wann kommt meine Bestellung?"))
	if err != nil {
		t.Fatal(err)
	}
	m := skipToKind(t, w, ctl.KindMessage).Message
	if m == nil || m.ID != sent.ID || m.Text != "Wann kommt meine Bestellung?" || m.Type != "text" ||
		m.Sender != contact.JID().String() || m.Chat != contact.JID().String() || m.FromMe ||
		!m.Timestamp.Equal(sent.Timestamp.Truncate(time.Second)) {
		t.Fatalf("message event %+v, want %s from %s at %s", m, sent.ID, contact.JID(), sent.Timestamp)
	}
	if sent.Enc[jid] != "pkmsg" {
		t.Errorf("the first message to wad's device came as %q, want pkmsg", sent.Enc[jid])
	}
	// wad's device tells the contact it got it: a delivery receipt,
	// of type inactive since wad never shows itself online.
	if _, err := contact.WaitReceipt(ctx, func(r wafake.Receipt) bool {
		return slices.Contains(r.IDs, sent.ID) && r.From == jid && (r.Type == "" || r.Type == "inactive")
	}); err != nil {
		t.Fatalf("no delivery receipt from wad's device %s: %v; got %+v", jid, err, contact.Receipts())
	}
	// And acknowledges the stanza, so the server stops holding it.
	deadline := time.Now().Add(30 * time.Second)
	for srv.Queued(jid) != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := srv.Queued(jid); n != 0 {
		t.Fatalf("%d stanzas still held for wad's device", n)
	}
}

// TestMessagesSentWhileStoppedArriveAtTheNextLogin: the server holds what
// a device misses and delivers it when the device is back.
func TestMessagesSentWhileStoppedArriveAtTheNextLogin(t *testing.T) {
	srv, _, d := newDaemon(t, wafake.Options{})
	me := newAccount(t, srv, "4915112340030", "Ops")
	contact := newAccount(t, srv, "4917612340031", "Kunde")
	linkOverSocket(t, d, me, "ops")
	ctx := waitCtx(t)
	if _, err := d.Client.Stop(ctx, "ops"); err != nil {
		t.Fatal(err)
	}
	id, err := contact.SendText(me.JID(), "while you were away")
	if err != nil {
		t.Fatal(err)
	}
	w := watch(t, d, "ops")
	if r := waitLogin(t, loginAsync(d.Client, ctl.LoginParams{Client: "ops"})); r.err != nil {
		t.Fatal(r.err)
	}
	if m := skipToKind(t, w, ctl.KindMessage).Message; m == nil || m.ID != id || m.Text != "while you were away" {
		t.Fatalf("message event %+v, want the held message %s", m, id)
	}
}

func TestPhoneLoginShowsTheCodeThePhoneEnters(t *testing.T) {
	srv, _, d := newDaemon(t, wafake.Options{})
	acct := newAccount(t, srv, "4915112345678", "Field")
	w := watch(t, d, "field")
	r := waitLogin(t, loginAsync(d.Client, ctl.LoginParams{Client: "field", Phone: "+49 151 1234-5678"}))
	if r.err != nil || r.st.State != ctl.StatePairing || r.st.PairCode == "" || r.st.QR != "" {
		t.Fatalf("session.login with phone: %+v, %v", r.st, r.err)
	}
	jid, err := acct.EnterCode(r.st.PairCode)
	if err != nil {
		t.Fatalf("the phone refused code %q: %v", r.st.PairCode, err)
	}
	ev := skipToState(t, w, ctl.StateConnected, "")
	if ev.Session.JID != acct.JID().String() {
		t.Fatalf("connected: %+v", ev.Session)
	}
	if srv.Companion(jid) == nil || srv.Linked() != 1 {
		t.Fatalf("linked %d", srv.Linked())
	}
	// Nothing on the way showed a QR code.
	d.Client.Stop(context.Background(), "field") //nolint:errcheck
	for {
		select {
		case ev := <-w.C:
			if ev.Kind == ctl.KindQR || (ev.Session != nil && ev.Session.QR != "") {
				t.Fatalf("a phone login published a QR code: %+v", ev)
			}
			continue
		case <-time.After(500 * time.Millisecond):
		}
		break
	}
}

func TestPairingCodeRefusedByWhatsAppFailsTheLogin(t *testing.T) {
	_, _, d := newDaemon(t, wafake.Options{})
	// No account has this number: WhatsApp answers 400.
	r := waitLogin(t, loginAsync(d.Client, ctl.LoginParams{Client: "field", Phone: "+4915199999999"}))
	if r.err != nil {
		// The refusal may beat the login's return.
		if !errors.Is(r.err, ctl.ErrUpstream) {
			t.Fatalf("login error %v, want upstream", r.err)
		}
	}
	st := waitState(t, "failed", func() ctl.Session { return status(t, d, "field") }, func(s ctl.Session) bool { return s.State == ctl.StateFailed })
	if st.Reason != ctl.ReasonPairingRejected || !strings.Contains(st.Message, "bad-request") {
		t.Fatalf("session.status: %+v", st)
	}
}

// receiptOf reads events until a receipt of typ for id arrives; other
// receipts (e.g. sender receipts from the account's own phone) are
// skipped.
func receiptOf(t *testing.T, w *ctl.Watcher, id, typ string) *ctl.Receipt {
	t.Helper()
	for {
		rc := skipToKind(t, w, ctl.KindReceipt).Receipt
		if rc != nil && rc.Type == typ && slices.Contains(rc.IDs, id) {
			return rc
		}
	}
}

func textMessage(s string) *waE2E.Message { return &waE2E.Message{Conversation: proto.String(s)} }
