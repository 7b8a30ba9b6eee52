package outbox

import (
	"context"
	"maps"
	"testing"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/sessions"
)

// Prevents: messages counted by the wrong kind in
// wad_messages_sent_total and wad_messages_failed_total, or not at all
// when they fail in bulk after a restart (kinds read back from wad.db).
func TestFinishedCountsByKind(t *testing.T) {
	e := newEnv(t, fast())
	e.login("c1")
	e.run()
	sent := e.enqueue("c1", text("hi"))
	e.wait("c1", sent.ID)
	doc := e.enqueue("c1", sessions.Send{To: "4915112345678@s.whatsapp.net", Media: document(t, []byte("notes"))})
	e.wait("c1", doc.ID)
	e.drained()
	want := map[Finished]uint64{{KindText, ctl.OutSent}: 1, {ctl.MediaDocument, ctl.OutSent}: 1}
	if got := e.ob.FinishedCounts(); !maps.Equal(got, want) {
		t.Fatalf("FinishedCounts = %v, want %v", got, want)
	}
	// Queued while disconnected, then a restart that resets the queue:
	// the kinds come from the table.
	e.b.Session("c1").St.Set(ctl.StateDisconnected, ctl.ReasonNetwork, "")
	e.halt()
	e.enqueue("c1", sessions.React{Chat: "4915112345678@s.whatsapp.net", ID: sent.ID, Emoji: "👍"})
	e.enqueue("c1", sessions.Send{To: "4915112345678@s.whatsapp.net", Location: &ctl.Location{Lat: 1, Lon: 2}})
	e.reopen()
	if err := e.ob.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	want = map[Finished]uint64{{KindReaction, ctl.OutFailed}: 1, {KindLocation, ctl.OutFailed}: 1}
	if got := e.ob.FinishedCounts(); !maps.Equal(got, want) {
		t.Fatalf("after a reset restart: FinishedCounts = %v, want %v", got, want)
	}
}
