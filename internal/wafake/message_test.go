package wafake_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	wa "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"

	"github.com/wad-project/wad/internal/wafake"
)

// gaps collects the fake's log lines that name a request it has no
// handler for, so a test fails on any the message path runs into.
type gaps struct {
	mu    sync.Mutex
	lines []string
}

func (g *gaps) check(t *testing.T) {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.lines) > 0 {
		t.Fatalf("the fake had no handler for:\n%s", strings.Join(g.lines, "\n"))
	}
}

func newMessagingServer(t *testing.T) (*wafake.Server, *gaps) {
	t.Helper()
	g := &gaps{}
	s, err := wafake.New(wafake.Options{Logf: func(format string, args ...any) {
		line := fmt.Sprintf(format, args...)
		if strings.Contains(line, "no handler") {
			g.mu.Lock()
			g.lines = append(g.lines, line)
			g.mu.Unlock()
		}
		t.Log(line)
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, g
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitEvent waits for an event of type T that ok accepts.
func waitEvent[T any](t *testing.T, ch <-chan any, what string, ok func(T) bool) T {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case evt := <-ch:
			if v, is := evt.(T); is && ok(v) {
				return v
			}
		case <-deadline:
			t.Fatalf("no %s within 30s", what)
		}
	}
}

func byID(id string) func(wafake.Message) bool {
	return func(m wafake.Message) bool { return m.ID == id }
}

func addAccount(t *testing.T, s *wafake.Server, phone, name string) *wafake.Account {
	t.Helper()
	a, err := s.AddAccount(phone, name)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// send sends text from cli to the user to and checks the server's
// answer.
func send(t *testing.T, cli *wa.Client, to types.JID, text string) wa.SendResponse {
	t.Helper()
	resp, err := cli.SendMessage(ctxFor(t), to, &waE2E.Message{Conversation: proto.String(text)})
	if err != nil {
		t.Fatalf("send %q: %v", text, err)
	}
	if resp.ID == "" || resp.Timestamp.IsZero() {
		t.Fatalf("send response %+v has no id or timestamp", resp)
	}
	return resp
}

func TestConversationWithAContactsPhone(t *testing.T) {
	s, g := newMessagingServer(t)
	a := addAccount(t, s, "4915110000101", "Sales")
	b := addAccount(t, s, "4915110000102", "Bob")
	cli, evs := pairByQR(t, s, a, newContainer(t))
	self := *cli.Store.ID
	ctx := ctxFor(t)

	// wad writes first: B's phone decrypts exactly what was sent.
	msg := &waE2E.Message{Conversation: proto.String("Grüße, Bob ✓")}
	resp, err := cli.SendMessage(ctx, b.JID(), msg)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	if resp.ID == "" || resp.Timestamp.IsZero() {
		t.Fatalf("send response %+v", resp)
	}
	got, err := b.WaitMessage(ctx, byID(resp.ID))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := proto.Marshal(msg)
	if got.Err != nil || string(got.Plaintext) != string(want) || got.Text() != "Grüße, Bob ✓" {
		t.Fatalf("B's phone got %q (err %v), want the sent bytes", got.Plaintext, got.Err)
	}
	if got.Sender != self || got.SenderLID != cli.Store.LID ||
		got.Chat != a.JID() || got.IsFromMe || !got.Timestamp.Equal(resp.Timestamp) || got.EncType != "pkmsg" || got.Type != "text" {
		t.Fatalf("B's phone recorded %+v (send response %+v)", got, resp)
	}
	// The copy for wad's own phone is a DeviceSentMessage.
	dsm, err := a.WaitMessage(ctx, byID(resp.ID))
	if err != nil {
		t.Fatal(err)
	}
	if !dsm.IsFromMe || dsm.Chat != b.JID() || dsm.Text() != "Grüße, Bob ✓" || dsm.Sender != self {
		t.Fatalf("A's phone recorded %+v", dsm)
	}
	isFromB := func(typ types.ReceiptType, id string) func(*events.Receipt) bool {
		return func(r *events.Receipt) bool {
			return r.Type == typ && r.Sender.User == b.Phone && slices.Contains(r.MessageIDs, id)
		}
	}
	rc := waitEvent(t, evs, "delivery receipt from B", isFromB(types.ReceiptTypeDelivered, resp.ID))
	if rc.Chat != b.JID() || rc.IsFromMe {
		t.Fatalf("delivery receipt %+v", rc)
	}
	if err := b.MarkRead(a.JID(), resp.ID); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, evs, "read receipt from B", isFromB(types.ReceiptTypeRead, resp.ID))

	// B answers: wad gets the message from B's phone, by phone number
	// with the LID beside it.
	id, err := b.SendText(a.JID(), "Hallo zurück")
	if err != nil {
		t.Fatal(err)
	}
	in := waitEvent(t, evs, "message from B", func(m *events.Message) bool { return m.Info.ID == id })
	if in.Info.Sender != b.JID() || in.Info.SenderAlt != b.LIDJID() || in.Info.Chat != b.JID() ||
		in.Info.IsFromMe || in.Info.PushName != "Bob" || in.Message.GetConversation() != "Hallo zurück" {
		t.Fatalf("wad got %+v: %q", in.Info, in.Message.GetConversation())
	}
	sent := b.Sent()
	if len(sent) != 1 || sent[0].ID != id || !in.Info.Timestamp.Equal(sent[0].Timestamp) {
		t.Fatalf("B's phone sent %+v; wad saw time %v", sent, in.Info.Timestamp)
	}
	// B's phone has had a session with wad's device since wad's pkmsg.
	if sent[0].Enc[self] != "msg" || sent[0].Enc[a.JID()] != "pkmsg" {
		t.Fatalf("enc types %v", sent[0].Enc)
	}
	// wad's delivery receipt reaches B's phone (inactive: whatsmeow is
	// not marked online).
	r, err := b.WaitReceipt(ctx, func(r wafake.Receipt) bool { return r.From == self && slices.Contains(r.IDs, id) })
	if err != nil {
		t.Fatal(err)
	}
	if r.Type != string(types.ReceiptTypeInactive) {
		t.Fatalf("receipt %+v", r)
	}
	// A's phone got it too and acknowledged it to B's phone.
	if m, err := a.WaitMessage(ctx, byID(id)); err != nil || m.Text() != "Hallo zurück" || m.Sender != b.JID() {
		t.Fatalf("A's phone: %+v %v", m, err)
	}
	if _, err := b.WaitReceipt(ctx, func(r wafake.Receipt) bool { return r.From == a.JID() && r.Type == "" }); err != nil {
		t.Fatal(err)
	}

	// The second message each way runs on the established sessions.
	resp2 := send(t, cli, b.JID(), "zweite")
	got2, err := b.WaitMessage(ctx, byID(resp2.ID))
	if err != nil || got2.Text() != "zweite" || got2.EncType != "msg" {
		t.Fatalf("second message at B: %+v %v", got2, err)
	}
	id2, err := b.SendText(a.JID(), "auch zweite")
	if err != nil {
		t.Fatal(err)
	}
	in2 := waitEvent(t, evs, "second message from B", func(m *events.Message) bool { return m.Info.ID == id2 })
	if in2.Message.GetConversation() != "auch zweite" {
		t.Fatalf("second message %q", in2.Message.GetConversation())
	}
	if enc := b.Sent()[1].Enc[self]; enc != "msg" {
		t.Fatalf("second message to wad went as %s", enc)
	}
	// wad acknowledged every message and receipt the server sent it.
	waitDrained(t, s, self)
	g.check(t)
}

// waitDrained waits until the server holds nothing more for device jid.
func waitDrained(t *testing.T, s *wafake.Server, jid types.JID) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for s.Queued(jid) != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := s.Queued(jid); n != 0 {
		t.Fatalf("the server still holds %d stanzas for %s", n, jid)
	}
}

func TestContactWritesFirst(t *testing.T) {
	s, g := newMessagingServer(t)
	a := addAccount(t, s, "4915110000111", "Sales")
	b := addAccount(t, s, "4915110000112", "Carol")
	cli, evs := pairByQR(t, s, a, newContainer(t))
	self := *cli.Store.ID
	ctx := ctxFor(t)

	before := s.PreKeyCount(self)
	id, err := b.SendText(a.JID(), "first contact")
	if err != nil {
		t.Fatal(err)
	}
	in := waitEvent(t, evs, "message from B", func(m *events.Message) bool { return m.Info.ID == id })
	if in.Message.GetConversation() != "first contact" || in.Info.Sender != b.JID() {
		t.Fatalf("wad got %+v", in.Info)
	}
	if enc := b.Sent()[0].Enc[self]; enc != "pkmsg" {
		t.Fatalf("first message went as %s, want pkmsg", enc)
	}
	if after := s.PreKeyCount(self); after != before-1 {
		t.Fatalf("prekeys on the server %d -> %d, want one used", before, after)
	}
	if _, err := b.WaitReceipt(ctx, func(r wafake.Receipt) bool { return r.From == self && slices.Contains(r.IDs, id) }); err != nil {
		t.Fatal(err)
	}

	// wad answers on the session B's pkmsg set up.
	resp := send(t, cli, b.JID(), "reply")
	got, err := b.WaitMessage(ctx, byID(resp.ID))
	if err != nil || got.Err != nil || got.Text() != "reply" || got.EncType != "msg" {
		t.Fatalf("B's phone: %+v %v", got, err)
	}
	id2, err := b.SendText(a.JID(), "again")
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, evs, "second message from B", func(m *events.Message) bool {
		return m.Info.ID == id2 && m.Message.GetConversation() == "again"
	})
	if enc := b.Sent()[1].Enc[self]; enc != "msg" {
		t.Fatalf("second message went as %s, want msg", enc)
	}

	// Addressed by LID, the same sessions carry on; B's phone sees the
	// chat by LID.
	resp3 := send(t, cli, b.LIDJID(), "by lid")
	got3, err := b.WaitMessage(ctx, byID(resp3.ID))
	if err != nil || got3.Err != nil || got3.Text() != "by lid" || got3.Chat != a.LIDJID() || got3.Sender != self || got3.EncType != "msg" {
		t.Fatalf("B's phone: %+v %v", got3, err)
	}
	g.check(t)
}

func TestMessageReachesTheContactsCompanion(t *testing.T) {
	s, g := newMessagingServer(t)
	a := addAccount(t, s, "4915110000121", "Sales")
	b := addAccount(t, s, "4915110000122", "Dana")
	cliA, evsA := pairByQR(t, s, a, newContainer(t))
	cliB, evsB := pairByQR(t, s, b, newContainer(t))
	selfA, selfB := *cliA.Store.ID, *cliB.Store.ID

	resp := send(t, cliA, b.JID(), "to all of Dana's devices")
	in := waitEvent(t, evsB, "message at B's companion", func(m *events.Message) bool { return m.Info.ID == resp.ID })
	if in.Message.GetConversation() != "to all of Dana's devices" || in.Info.Sender != selfA ||
		in.Info.Chat != a.JID() || in.Info.IsFromMe || !in.Info.Timestamp.Equal(resp.Timestamp) {
		t.Fatalf("B's companion got %+v: %q", in.Info, in.Message.GetConversation())
	}
	if m, err := b.WaitMessage(ctxFor(t), byID(resp.ID)); err != nil || m.Text() != "to all of Dana's devices" {
		t.Fatalf("B's phone: %+v %v", m, err)
	}
	// Both of B's devices confirm delivery to wad's device.
	waitEvent(t, evsA, "receipt from B's companion", func(r *events.Receipt) bool {
		return r.Sender == selfB && slices.Contains(r.MessageIDs, resp.ID)
	})

	// B's phone writes: its companion gets the copy as its own message.
	id, err := b.SendText(a.JID(), "from Dana's phone")
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, evsA, "message from B's phone", func(m *events.Message) bool { return m.Info.ID == id })
	own := waitEvent(t, evsB, "own copy at B's companion", func(m *events.Message) bool { return m.Info.ID == id })
	if !own.Info.IsFromMe || own.Info.Chat != a.JID() || own.Message.GetConversation() != "from Dana's phone" {
		t.Fatalf("B's companion got %+v: %q", own.Info, own.Message.GetConversation())
	}
	waitDrained(t, s, selfA)
	waitDrained(t, s, selfB)
	if acks := s.Acks(selfA); len(acks) == 0 || acks[0].Class != "receipt" || acks[0].Error != 0 {
		t.Fatalf("acks of wad's device: %+v", acks)
	}
	g.check(t)
}

func TestOfflineCompanionGetsMessagesAtLogin(t *testing.T) {
	s, g := newMessagingServer(t)
	a := addAccount(t, s, "4915110000131", "Sales")
	b := addAccount(t, s, "4915110000132", "Eve")
	cli, evs := pairByQR(t, s, a, newContainer(t))
	self := *cli.Store.ID
	cli.Disconnect()

	id, err := b.SendText(a.LIDJID(), "while you were away")
	if err != nil {
		t.Fatal(err)
	}
	if n := s.Queued(self); n != 1 {
		t.Fatalf("server holds %d stanzas for the offline device, want 1", n)
	}
	if err := cli.Connect(); err != nil {
		t.Fatal(err)
	}
	in := waitEvent(t, evs, "held message", func(m *events.Message) bool { return m.Info.ID == id })
	if in.Message.GetConversation() != "while you were away" || in.Info.Sender != b.LIDJID() ||
		in.Info.SenderAlt != b.JID() || in.Info.Chat != b.LIDJID() {
		t.Fatalf("wad got %+v: %q", in.Info, in.Message.GetConversation())
	}
	off := waitEvent(t, evs, "offline sync", func(*events.OfflineSyncCompleted) bool { return true })
	if off.Count != 1 {
		t.Fatalf("offline count %d, want 1", off.Count)
	}
	if _, err := b.WaitReceipt(ctxFor(t), func(r wafake.Receipt) bool { return r.From == self && slices.Contains(r.IDs, id) }); err != nil {
		t.Fatal(err)
	}
	waitDrained(t, s, self)
	g.check(t)
}
