package daemon_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon"
	"github.com/wad-project/wad/daemon/daemontest"
	"github.com/wad-project/wad/reaper"
	"github.com/wad-project/wad/sessions"
	"github.com/wad-project/wad/sessions/sessiontest"
)

// startMode starts a daemon on stateDir in reaper mode mode.
func startMode(t *testing.T, stateDir, mode string) *daemontest.Daemon {
	t.Helper()
	return daemontest.Start(t, daemontest.Options{StateDir: stateDir, Config: func(c *daemon.Config) { c.Reaper.Mode = mode }})
}

func publishMessages(d *daemontest.Daemon, texts ...string) {
	for _, s := range texts {
		d.Registry.Bus().Publish(ctl.Event{Client: "sales", Kind: ctl.KindMessage, Message: &ctl.Message{ID: s, Text: s}})
	}
}

func eventLog(t *testing.T, d *daemontest.Daemon) ctl.EventLogStatus {
	t.Helper()
	st, err := d.Client.Status(bg)
	if err != nil || st.EventLog == nil {
		t.Fatalf("wad.status: %+v, %v", st, err)
	}
	return *st.EventLog
}

// nextOf returns the next event w delivers, failing after 10s.
func nextOf(t *testing.T, w *ctl.Watcher) ctl.Event {
	t.Helper()
	select {
	case ev := <-w.C:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
		return ctl.Event{}
	}
}

// Preserve mode keeps the log, its seq and the consumers' positions
// across a restart; reset mode empties the log and forgets the
// consumers, and the seq goes on, so an old position reads as a loss.
func TestEventLogSurvivesPreserveRestartsAndResetEmptiesIt(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	d := startMode(t, dir, reaper.ModePreserve)
	publishMessages(d, "a", "b", "c", "d", "e")
	if pos, err := d.Client.Ack(bg, "crm", 3); err != nil || pos != 3 {
		t.Fatalf("ack: %d, %v", pos, err)
	}
	if pos, err := d.Client.Ack(bg, "crm", 2); err != nil || pos != 3 {
		t.Fatalf("an older ack moved the position: %d, %v", pos, err)
	}
	wantCode(t, "ack past the head", func() error { _, err := d.Client.Ack(bg, "crm", 6); return err }(), ctl.CodeInvalidParams)
	wantCode(t, "ack of a bad consumer name", func() error { _, err := d.Client.Ack(bg, "../x", 1); return err }(), ctl.CodeInvalidParams)
	d.Stop()
	if fi, err := os.Stat(filepath.Join(dir, "wad.db")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("wad.db: %v", err)
	}

	d = startMode(t, dir, reaper.ModePreserve)
	if l := eventLog(t, d); l.Head != 5 || l.Oldest != 1 || l.Events != 5 || l.Consumers != 1 || l.Bytes == 0 {
		t.Fatalf("after a preserve restart: %+v", l)
	}
	w, err := d.Client.Watch(bg, ctl.SubscribeParams{Consumer: "crm"})
	if err != nil {
		t.Fatal(err)
	}
	if w.Result.Since == nil || *w.Result.Since != 3 || w.Result.Head != 5 {
		t.Fatalf("consumer resumed with %+v", w.Result)
	}
	for _, want := range []string{"d", "e"} {
		if ev := nextOf(t, w); ev.Message == nil || ev.Message.Text != want {
			t.Fatalf("got %+v, want %s", ev, want)
		}
	}
	d.Stop()

	d = startMode(t, dir, reaper.ModeReset)
	if l := eventLog(t, d); l.Head != 5 || l.Oldest != 6 || l.Events != 0 || l.Consumers != 0 || l.Bytes != 0 {
		t.Fatalf("after a reset restart: %+v", l)
	}
	w, err = d.Client.Watch(bg, ctl.SubscribeParams{Consumer: "crm"})
	if err != nil || w.Result.Since != nil {
		t.Fatalf("the consumer survived the reset: %+v, %v", w.Result, err)
	}
	since := uint64(3)
	old, err := d.Client.Watch(bg, ctl.SubscribeParams{Since: &since})
	if err != nil {
		t.Fatal(err)
	}
	publishMessages(d, "f")
	if ev := nextOf(t, old); ev.Kind != ctl.KindEventsDropped || *ev.EventsDropped != (ctl.SeqRange{From: 4, To: 5}) {
		t.Fatalf("an old position after a reset: %+v", ev)
	}
	for _, w := range []*ctl.Watcher{old, w} {
		if ev := nextOf(t, w); ev.Seq != 6 || ev.Message.Text != "f" {
			t.Fatalf("first event after the reset: %+v", ev)
		}
	}
	past := uint64(7)
	_, err = d.Client.Watch(bg, ctl.SubscribeParams{Since: &past})
	wantCode(t, "since past the head", err, ctl.CodeInvalidParams)
}

// A message queued while its session is disconnected waits through a
// preserve restart and is failed, reason reset, by a reset restart: the
// queue is in wad.db and follows the mode as the logins do.
func TestQueueSurvivesPreserveRestartsAndResetFailsIt(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	b := &sessiontest.Backend{Connect: true}
	start := func(mode string) *daemontest.Daemon {
		return daemontest.Start(t, daemontest.Options{StateDir: dir, Backends: []sessions.Backend{b},
			Config: func(c *daemon.Config) { c.Reaper.Mode = mode }})
	}
	d := start(reaper.ModePreserve)
	if _, err := d.Client.Login(bg, ctl.LoginParams{Client: "sales"}); err != nil {
		t.Fatal(err)
	}
	b.Session("sales").St.Set(ctl.StateDisconnected, ctl.ReasonNetwork, "")
	res, err := d.Client.Send(bg, ctl.SendParams{Client: "sales", To: "+4915112345678", Text: "later"})
	if err != nil || res.State != ctl.OutQueued {
		t.Fatalf("send while disconnected: %+v, %v", res, err)
	}
	status := func(d *daemontest.Daemon) ctl.MessageStatus {
		t.Helper()
		var st ctl.MessageStatus
		if err := d.Client.Call(bg, ctl.MethodMsgStatus, ctl.MessageStatusParams{Client: "sales", ID: res.ID}, &st); err != nil {
			t.Fatalf("message.status: %v", err)
		}
		return st
	}
	if st, _ := d.Client.Status(bg); st.Queued["sales"] != 1 {
		t.Fatalf("wad.status queued %v, want sales 1", st.Queued)
	}
	d.Stop()

	d = start(reaper.ModePreserve)
	if st := status(d); st.State != ctl.OutQueued {
		t.Fatalf("after a preserve restart: %+v, want still queued", st)
	}
	d.Stop()

	d = start(reaper.ModeReset)
	if st := status(d); st.State != ctl.OutFailed || st.Reason != ctl.FailReset || st.Code != ctl.CodeSessionNotReady {
		t.Fatalf("after a reset restart: %+v, want failed, reason reset", st)
	}
	if st, _ := d.Client.Status(bg); len(st.Queued) != 0 {
		t.Fatalf("wad.status queued %v after a reset", st.Queued)
	}
	if len(b.Session("sales").Sent) != 0 {
		t.Fatalf("the reset queue's message was sent: %+v", b.Session("sales").Sent)
	}
}
