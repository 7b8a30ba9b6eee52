package daemon_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon"
	"github.com/wad-project/wad/daemon/daemontest"
	"github.com/wad-project/wad/internal/syncbuf"
	"github.com/wad-project/wad/sessions"
	"github.com/wad-project/wad/sessions/sessiontest"
)

// These tests cover what the daemon itself does for the contact, group,
// profile, presence and call methods: validation before anything reaches
// a backend, the pacing and progress of contact.check, and reject_calls.
// The backends' side runs against the fake WhatsApp server and page in
// their own packages.

// connectedWith is connected with a config change.
func connectedWith(t *testing.T, conf func(*daemon.Config)) (*daemontest.Daemon, *sessiontest.Backend) {
	t.Helper()
	b := &sessiontest.Backend{Connect: true}
	d := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{b}, Config: conf})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if s, err := d.Client.Login(ctx, ctl.LoginParams{Client: "sales"}); err != nil || s.State != ctl.StateConnected {
		t.Fatalf("login: %+v, %v", s, err)
	}
	return d, b
}

func ptr[T any](v T) *T { return &v }

func TestBadSocialInputIsRefusedWithNothingSent(t *testing.T) {
	d, b := connected(t)
	ctx := context.Background()
	many := make([]string, ctl.MaxGroupParticipants)
	for i := range many {
		many[i] = fmt.Sprintf("+49151%07d", i)
	}
	const g = "120363025246125888@g.us"
	img := pngBytes(t, 8, 8)
	cases := []struct {
		name, method string
		params       any
		want         string
	}{
		{"check without phones", ctl.MethodCheck, ctl.CheckParams{Client: "sales"}, "phones is required"},
		{"check with a bad phone", ctl.MethodCheck, ctl.CheckParams{Client: "sales", Phones: []string{"+4915112345678", "0151 123"}}, "phones[1]"},
		{"check with too many", ctl.MethodCheck, ctl.CheckParams{Client: "sales", Phones: make([]string, ctl.MaxCheckPhones+1)}, "limit"},
		{"info of a group", ctl.MethodContactInfo, ctl.ContactInfoParams{Client: "sales", JID: g}, "not a person"},
		{"group info of a user", ctl.MethodGroupInfo, ctl.GroupParams{Client: "sales", Group: "4915112345678@s.whatsapp.net"}, "not a group"},
		{"group info of a phone", ctl.MethodGroupInfo, ctl.GroupParams{Client: "sales", Group: "+4915112345678"}, "not a group"},
		{"leave without group", ctl.MethodGroupLeave, ctl.GroupParams{Client: "sales"}, "group is required"},
		{"create without name", ctl.MethodGroupCreate, ctl.GroupCreateParams{Client: "sales", Participants: []string{"+4915112345678"}}, "name is required"},
		{"create with a two-line name", ctl.MethodGroupCreate, ctl.GroupCreateParams{Client: "sales", Name: "a\nb", Participants: []string{"+4915112345678"}}, "one line"},
		{"create without participants", ctl.MethodGroupCreate, ctl.GroupCreateParams{Client: "sales", Name: "x"}, "participants is required"},
		{"create with a group as participant", ctl.MethodGroupCreate, ctl.GroupCreateParams{Client: "sales", Name: "x", Participants: []string{g}}, "not a person"},
		{"create with too many", ctl.MethodGroupCreate, ctl.GroupCreateParams{Client: "sales", Name: "x", Participants: many}, "at most 1023"},
		{"create with a duplicate", ctl.MethodGroupCreate, ctl.GroupCreateParams{Client: "sales", Name: "x", Participants: []string{"+4915112345678", "4915112345678@s.whatsapp.net"}}, "twice"},
		{"participants of a user", ctl.MethodGroupParticipants, ctl.ParticipantsParams{Client: "sales", Group: "4915112345678@s.whatsapp.net", Add: []string{"+4915112345679"}}, "not a group"},
		{"participants without action", ctl.MethodGroupParticipants, ctl.ParticipantsParams{Client: "sales", Group: g}, "one of add"},
		{"participants with two actions", ctl.MethodGroupParticipants, ctl.ParticipantsParams{Client: "sales", Group: g, Add: []string{"+4915112345679"}, Remove: []string{"+4915112345670"}}, "exactly one"},
		{"participants with an empty add", ctl.MethodGroupParticipants, ctl.ParticipantsParams{Client: "sales", Group: g, Add: []string{}}, "one of add"},
		{"add too many", ctl.MethodGroupParticipants, ctl.ParticipantsParams{Client: "sales", Group: g, Add: many}, "at most"},
		{"link of a user", ctl.MethodGroupInvite, ctl.InviteLinkParams{Client: "sales", Group: "4915112345678@s.whatsapp.net"}, "not a group"},
		{"join without link", ctl.MethodGroupJoin, ctl.JoinParams{Client: "sales"}, "link is required"},
		{"join with another site", ctl.MethodGroupJoin, ctl.JoinParams{Client: "sales", Link: "https://example.com/AbCdEfGhIjKlMnOpQrStUv"}, "invalid invite link"},
		{"join with a short code", ctl.MethodGroupJoin, ctl.JoinParams{Client: "sales", Link: "https://chat.whatsapp.com/abc"}, "invalid invite link"},
		{"join with a bad character", ctl.MethodGroupJoin, ctl.JoinParams{Client: "sales", Link: "https://chat.whatsapp.com/AbCdEfGhIjK;MnOpQrStUv"}, "invalid invite link"},
		{"set nothing", ctl.MethodGroupSet, ctl.GroupSetParams{Client: "sales", Group: g}, "nothing to set"},
		{"set an empty name", ctl.MethodGroupSet, ctl.GroupSetParams{Client: "sales", Group: g, Name: ptr("  ")}, "name is required"},
		{"set a long topic", ctl.MethodGroupSet, ctl.GroupSetParams{Client: "sales", Group: g, Topic: ptr(strings.Repeat("x", ctl.MaxGroupTopicLen+1))}, "topic"},
		{"profile set nothing", ctl.MethodProfileSet, ctl.ProfileSetParams{Client: "sales"}, "nothing to set"},
		{"profile name too long", ctl.MethodProfileSet, ctl.ProfileSetParams{Client: "sales", Name: ptr(strings.Repeat("x", ctl.MaxPushNameLen+1))}, "25 characters"},
		{"profile picture and removal", ctl.MethodProfileSet, ctl.ProfileSetParams{Client: "sales", Picture: &ctl.Media{Data: img}, RemovePicture: true}, "not both"},
		{"profile picture that is a PDF", ctl.MethodProfileSet, ctl.ProfileSetParams{Client: "sales", Picture: &ctl.Media{Data: []byte("%PDF-1.4\n%...\n")}}, "pdf"},
		{"presence of a group", ctl.MethodPresenceSubscribe, ctl.JIDParams{Client: "sales", JID: g}, "not a person"},
		{"reject without id", ctl.MethodCallReject, ctl.CallRejectParams{Client: "sales", From: "+4915112345678"}, "id"},
		{"reject from a group", ctl.MethodCallReject, ctl.CallRejectParams{Client: "sales", ID: "ABCDEF", From: g}, "not a person"},
		{"bad client", ctl.MethodGroups, ctl.ClientParams{Client: "../x"}, "client"},
	}
	for _, c := range cases {
		err := d.Client.Call(ctx, c.method, c.params, nil)
		if !errors.Is(err, ctl.ErrInvalidParams) || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(c.want)) {
			t.Errorf("%s: got %v, want invalid params mentioning %q", c.name, err, c.want)
		}
	}
	if ops := b.Session("sales").OpsDone(); len(ops) != 0 {
		t.Fatalf("the backend was asked %d operations by bad requests: %+v", len(ops), ops)
	}
	// A valid call reaches the backend, which refuses what it cannot do
	// naming itself.
	err := d.Client.Call(ctx, ctl.MethodGroupJoin, ctl.JoinParams{Client: "sales", Link: "https://chat.whatsapp.com/AbCdEfGhIjKlMnOpQrStUv?lang=en"}, nil)
	if !errors.Is(err, ctl.ErrUnavailable) || !strings.Contains(err.Error(), "whatsmeow") {
		t.Fatalf("join on a backend without groups: %v, want backend unavailable naming it", err)
	}
	ops := b.Session("sales").OpsDone()
	if len(ops) != 1 || ops[0] != (sessions.JoinGroup{Code: "AbCdEfGhIjKlMnOpQrStUv"}) {
		t.Fatalf("ops %+v, want one join with the link's code", ops)
	}
}

func TestContactCheckAsksInPacedBatchesAndReportsProgress(t *testing.T) {
	d, b := connectedWith(t, func(c *daemon.Config) {
		c.Sessions.CheckBatch = 7
		c.Sessions.CheckInterval = time.Millisecond
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w, err := d.Client.Watch(ctx, ctl.SubscribeParams{Kinds: []string{ctl.KindCheckProgress}})
	if err != nil {
		t.Fatal(err)
	}
	var phones []string
	for i := range 200 {
		phones = append(phones, fmt.Sprintf("+49 151 %07d", i))
	}
	phones = append(phones, "+491510000003", "0049 151 0000004") // asked again: not queried twice
	var res ctl.CheckResult
	if err := d.Client.Call(ctx, ctl.MethodCheck, ctl.CheckParams{Client: "sales", Phones: phones}, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Results) != len(phones) {
		t.Fatalf("%d results for %d phones", len(res.Results), len(phones))
	}
	for i, r := range res.Results {
		want, _ := ctl.NormalizePhone(phones[i])
		if r.Phone != want || r.OnWhatsApp != ((want[len(want)-1]-'0')%2 == 0) {
			t.Fatalf("result %d: %+v for %s", i, r, want)
		}
	}
	ops := b.Session("sales").OpsDone()
	if len(ops) != 29 { // ceil(200/7)
		t.Fatalf("%d queries, want 29 batches of at most 7", len(ops))
	}
	for _, op := range ops {
		if n := len(op.(sessions.CheckPhones).Phones); n > 7 {
			t.Fatalf("a query of %d numbers", n)
		}
	}
	done := 0
	for done < 200 {
		select {
		case ev := <-w.C:
			if ev.Check == nil || ev.Client != "sales" || ev.Check.Total != 200 || ev.Check.Done != done+len(ev.Check.Results) || ev.Check.Request == "" {
				t.Fatalf("progress event %+v after %d", ev.Check, done)
			}
			done = ev.Check.Done
		case <-ctx.Done():
			t.Fatalf("progress stopped at %d of 200", done)
		}
	}
}

func TestContactCheckStopsWhenItsCallerGoesAway(t *testing.T) {
	var logs syncbuf.Buffer
	b := &sessiontest.Backend{Connect: true}
	d := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{b},
		Config: func(c *daemon.Config) {
			c.Sessions.CheckBatch = 1
			c.Sessions.CheckInterval = time.Hour
		},
		Log: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w, err := d.Client.Watch(ctx, ctl.SubscribeParams{Kinds: []string{ctl.KindCheckProgress}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Client.Login(ctx, ctl.LoginParams{Client: "sales"}); err != nil {
		t.Fatal(err)
	}
	caller := d.Dial()
	errc := make(chan error, 1)
	go func() {
		errc <- caller.Call(ctx, ctl.MethodCheck, ctl.CheckParams{Client: "sales", Phones: []string{"+4915112345670", "+4915112345671", "+4915112345672"}}, nil)
	}()
	select {
	case ev := <-w.C:
		if ev.Check.Done != 1 || ev.Check.Results[0].Phone != "+4915112345670" {
			t.Fatalf("first progress: %+v", ev.Check)
		}
	case <-ctx.Done():
		t.Fatal("no progress")
	}
	caller.Close() // the next batch waits an hour: the daemon must give it up
	if err := <-errc; err == nil {
		t.Fatal("the abandoned check succeeded")
	}
	// The daemon notices the hang-up while the next batch waits its
	// turn, and sends nothing more.
	for !strings.Contains(logs.String(), `msg="contact.check stopped: its caller went away" client=sales done=1 total=3`) {
		if ctx.Err() != nil {
			t.Fatalf("the abandoned check went on:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if ops := b.Session("sales").OpsDone(); len(ops) != 1 {
		t.Fatalf("%d queries after the caller left, want 1", len(ops))
	}
}

func TestRejectCallsRefusesEveryOfferWithTheReply(t *testing.T) {
	d, b := connectedWith(t, func(c *daemon.Config) {
		c.Sessions.RejectCalls = true
		c.Sessions.RejectCallsText = "Calls are not answered here; please write."
	})
	_ = d
	s := b.Session("sales")
	// Events other than offers are left alone.
	s.Emit(ctl.Event{Kind: ctl.KindCall, Call: &ctl.Call{ID: "C0", From: "4915112345678@s.whatsapp.net", State: ctl.CallTerminated}})
	s.Emit(ctl.Event{Kind: ctl.KindCall, Call: &ctl.Call{ID: "C1", From: "4915112345678@s.whatsapp.net", State: ctl.CallOffer}})
	want := sessions.RejectCall{ID: "C1", From: "4915112345678@s.whatsapp.net", Text: "Calls are not answered here; please write."}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ops := s.OpsDone()
		if len(ops) > 0 {
			if len(ops) != 1 || ops[0] != want {
				t.Fatalf("ops %+v, want %+v", ops, want)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the offered call was not rejected")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A caller that only shuts down its write side (socat at the end of its
// input) still reads: its contact.check runs to the end and is answered.
func TestContactCheckOfAHalfClosedCallerIsAnswered(t *testing.T) {
	d, b := connectedWith(t, func(c *daemon.Config) {
		c.Sessions.CheckBatch = 1
		c.Sessions.CheckInterval = 3 * daemon.HangupPoll
	})
	r := dialRaw(t, d.Socket)
	r.send(`{"jsonrpc":"2.0","id":"c","method":"contact.check","params":{"client":"sales","phones":["+4915112345670","+4915112345671","+4915112345672"]}}`)
	if err := r.c.(*net.UnixConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	rep := r.read()
	var res ctl.CheckResult
	if rep.Error != nil || json.Unmarshal(rep.Result, &res) != nil || len(res.Results) != 3 || !res.Results[2].OnWhatsApp {
		t.Fatalf("reply %s %+v", rep.Result, rep.Error)
	}
	if n := len(b.Session("sales").OpsDone()); n != 3 {
		t.Fatalf("%d queries, want 3", n)
	}
}
