package whatsmeow_test

import (
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/internal/wafake"
	wm "github.com/wad-project/wad/sessions/whatsmeow"
)

// A call WhatsApp names by the caller's LID is refused naming that LID
// as its creator, though the event names the caller by phone number.
func TestCallFromALIDIsRejectedNamingTheLID(t *testing.T) {
	srv, _, d := newDaemon(t, wafake.Options{})
	me := newAccount(t, srv, "4915112340270", "Support")
	kundin := newAccount(t, srv, "4917612340271", "Kundin")
	linkOverSocket(t, d, me, "support")
	w := watch(t, d, "support")

	callID, err := kundin.CallAsLID(me.JID(), false)
	if err != nil {
		t.Fatal(err)
	}
	ev := skipToKind(t, w, ctl.KindCall)
	if c := ev.Call; c.ID != callID || c.From != kundin.JID().String() || c.State != ctl.CallOffer {
		t.Fatalf("offer: %+v", c)
	}
	rpc[ctl.OK](t, d, ctl.MethodCallReject, ctl.CallRejectParams{Client: "support", ID: ev.Call.ID, From: ev.Call.From})
	rej, err := kundin.WaitCallReject(waitCtx(t), callID)
	if err != nil {
		t.Fatal(err)
	}
	if rej.Creator.ToNonAD() != kundin.LIDJID() {
		t.Fatalf("the refusal named %s as the creator, not the LID %s", rej.Creator, kundin.LIDJID())
	}
}

// Joining a group whose link needs an admin's approval is no success:
// the request was sent, the account is no member yet.
func TestJoinNeedingApprovalIsAnError(t *testing.T) {
	srv, _, d := newDaemon(t, wafake.Options{})
	me := newAccount(t, srv, "4915112340280", "Support")
	dave := newAccount(t, srv, "4917612340281", "Dave")
	linkOverSocket(t, d, me, "support")
	g, _, err := dave.CreateGroup("Mit Freigabe")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.GroupApproval(g, true); err != nil {
		t.Fatal(err)
	}
	code, err := dave.GroupInviteCode(g)
	if err != nil {
		t.Fatal(err)
	}
	var res ctl.JoinResult
	err = d.Client.Call(waitCtx(t), ctl.MethodGroupJoin, ctl.JoinParams{Client: "support", Link: ctl.InviteLinkPrefix + code}, &res)
	if !isCode(err, ctl.CodeUpstream) || !strings.Contains(err.Error(), "approval") {
		t.Fatalf("group.join: %v (result %+v), want an error saying it needs approval", err, res)
	}
	if rs := srv.JoinRequests(g); len(rs) != 1 || rs[0] != me.JID() {
		t.Fatalf("join requests on the server: %v", rs)
	}
}

// presence.subscribe names the person by the form whatsmeow has a
// privacy token for, else by the LID the store knows. (whatsmeow's
// store finds a token put under the phone number by the LID too once
// the mapping is known, which is why Bob's LID stays unknown here.)
func TestPresenceSubscribeUsesTheLIDOrTheFormWithAToken(t *testing.T) {
	srv, b, d := newDaemon(t, wafake.Options{})
	me := newAccount(t, srv, "4915112340290", "Support")
	kundin := newAccount(t, srv, "4917612340291", "Kundin")
	bob := newAccount(t, srv, "4917612340292", "Bob")
	dev := linkOverSocket(t, d, me, "support")
	cli := wm.RunningClient(b, "support")
	ctx := waitCtx(t)
	// Kundin's LID is known, without a token: her LID. Bob's is not,
	// and his token is stored under his phone number: that.
	if err := cli.Store.LIDs.PutLIDMapping(ctx, kundin.LIDJID(), kundin.JID()); err != nil {
		t.Fatal(err)
	}
	if err := cli.Store.PrivacyTokens.PutPrivacyTokens(ctx, store.PrivacyToken{User: bob.JID(), Token: []byte("tok"), Timestamp: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		a    *wafake.Account
		want types.JID
	}{{kundin, kundin.LIDJID()}, {bob, bob.JID()}} {
		rpc[ctl.OK](t, d, ctl.MethodPresenceSubscribe, ctl.JIDParams{Client: "support", JID: c.a.JID().String()})
		deadline := time.Now().Add(10 * time.Second)
		for {
			to, ok := c.a.SubscribedAs(dev)
			if ok && to == c.want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("subscribed to %s as %s (%v), want %s", c.a.JID(), to, ok, c.want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
