package wafake_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	wa "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/wad-project/wad/internal/wafake"
)

// unpaired connects a fresh device and waits for its first QR code, as
// whatsmeow requires before PairPhone.
func unpaired(t *testing.T, s *wafake.Server) (*wa.Client, <-chan any) {
	t.Helper()
	cli := client(s, newContainer(t).NewDevice())
	evs := collect(cli)
	if err := cli.Connect(); err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(cli.Disconnect)
	waitFor[*events.QR](t, evs)
	return cli, evs
}

func pairPhone(cli *wa.Client, phone string) (string, error) {
	return cli.PairPhone(context.Background(), "+"+phone, true, wa.PairClientChrome, "Chrome (Linux)")
}

func TestPhoneCodePairingLinksTheDevice(t *testing.T) {
	s := newServer(t, wafake.Options{})
	acct, err := s.AddAccount("4915110000011", "Front desk")
	if err != nil {
		t.Fatal(err)
	}
	cli, evs := unpaired(t, s)
	code, err := pairPhone(cli, acct.Phone)
	if err != nil {
		t.Fatalf("PairPhone: %v", err)
	}
	if len(code) != 9 || code[4] != '-' {
		t.Fatalf("code %q, want XXXX-XXXX", code)
	}
	jid, err := acct.EnterCode(code)
	if err != nil {
		t.Fatalf("EnterCode: %v", err)
	}
	if jid.User != acct.Phone || jid.Device == 0 {
		t.Fatalf("linked %s", jid)
	}
	ps := waitFor[*events.PairSuccess](t, evs)
	if ps.ID != jid {
		t.Fatalf("paired as %s, the phone linked %s", ps.ID, jid)
	}
	waitFor[*events.Connected](t, evs)
	if got := s.Linked(); got != 1 {
		t.Fatalf("linked devices %d, want 1", got)
	}
	if *cli.Store.ID != jid || cli.Store.LID.User != acct.LID {
		t.Fatalf("stored %s / %s", cli.Store.ID, cli.Store.LID)
	}
	if s.Logins(jid) != 1 {
		t.Fatalf("logins %d, want 1", s.Logins(jid))
	}
	// The request is used up.
	if _, err := acct.EnterCode(code); err == nil {
		t.Fatal("a used code linked again")
	}
}

func TestWrongPairingCodeLinksNothing(t *testing.T) {
	s := newServer(t, wafake.Options{})
	acct, _ := s.AddAccount("4915110000012", "Back office")
	cli, evs := unpaired(t, s)
	code, err := pairPhone(cli, acct.Phone)
	if err != nil {
		t.Fatalf("PairPhone: %v", err)
	}
	// Change one character to another of the code alphabet.
	wrong := []byte(code)
	if wrong[0] == 'A' {
		wrong[0] = 'B'
	} else {
		wrong[0] = 'A'
	}
	if _, err := acct.EnterCode(string(wrong)); err == nil {
		t.Fatal("a wrong code linked the device")
	}
	if s.Linked() != 0 || cli.Store.ID != nil {
		t.Fatalf("linked %d, device %v after a wrong code", s.Linked(), cli.Store.ID)
	}
	// Not a code at all.
	if _, err := acct.EnterCode("ABCD-EFG0"); err == nil {
		t.Fatal("a malformed code was accepted")
	}
	// The phone asks for a new code; the device, still connected and
	// unpaired, gets one, and the right one (typed without the dash, in
	// lower case) links it.
	code, err = pairPhone(cli, acct.Phone)
	if err != nil {
		t.Fatalf("second PairPhone: %v", err)
	}
	jid, err := acct.EnterCode(strings.ToLower(strings.ReplaceAll(code, "-", "")))
	if err != nil {
		t.Fatalf("EnterCode: %v", err)
	}
	if ps := waitFor[*events.PairSuccess](t, evs); ps.ID != jid {
		t.Fatalf("paired as %s, the phone linked %s", ps.ID, jid)
	}
	waitFor[*events.Connected](t, evs)
	if s.Linked() != 1 {
		t.Fatalf("linked %d, want 1", s.Linked())
	}
}

func TestPairingCodeRequests(t *testing.T) {
	s := newServer(t, wafake.Options{})
	acct, _ := s.AddAccount("4915110000013", "X")
	cli, _ := unpaired(t, s)

	// No account with that number.
	if _, err := pairPhone(cli, "4915119999999"); !errors.Is(err, wa.ErrIQBadRequest) {
		t.Fatalf("PairPhone for an unknown number: %v, want 400 bad-request", err)
	}
	// A display name the server does not accept.
	if _, err := cli.PairPhone(context.Background(), acct.Phone, true, wa.PairClientChrome, "wad"); !errors.Is(err, wa.ErrIQBadRequest) {
		t.Fatalf("PairPhone with display %q: %v, want 400 bad-request", "wad", err)
	}
	// Nothing asked for the account's number yet.
	if _, err := acct.EnterCode("ABCD-EFGH"); err == nil {
		t.Fatal("a code was entered with no request pending")
	}
	if s.Linked() != 0 {
		t.Fatal("something was linked")
	}
	// A request for the number works on the same connection.
	if _, err := pairPhone(cli, acct.Phone); err != nil {
		t.Fatalf("PairPhone: %v", err)
	}
}
