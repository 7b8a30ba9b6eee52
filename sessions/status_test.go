package sessions_test

import (
	"testing"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/sessions"
)

func TestStatusLateEventsCannotResurrectAStoppedSession(t *testing.T) {
	var events []ctl.Event
	st := sessions.NewStatus(sessions.Env{Client: "c", Backend: "b", Publish: func(e ctl.Event) { events = append(events, e) }})
	st.Set(ctl.StateStarting, "", "")
	st.Update(func(s *ctl.Session) { s.State, s.QR = ctl.StateQR, "qr1" })
	st.Set(ctl.StateStopped, ctl.ReasonStopped, "")
	if st.Update(func(s *ctl.Session) { s.State, s.QR = ctl.StateQR, "qr2" }) {
		t.Fatal("a QR after stop was accepted")
	}
	if st.Set(ctl.StateConnected, "", "") {
		t.Fatal("connected after stop was accepted")
	}
	if s := st.Get(); s.State != ctl.StateStopped || s.QR != "" {
		t.Fatalf("state = %+v", s)
	}
	var kinds []string
	for _, e := range events {
		kinds = append(kinds, e.Kind+":"+string(e.Session.State))
	}
	want := []string{"state:starting", "state:qr", "qr:qr", "state:stopped"}
	if len(kinds) != len(want) {
		t.Fatalf("events %v, want %v", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("events %v, want %v", kinds, want)
		}
	}
}

func TestStatusPublishesEveryQRRotation(t *testing.T) {
	var qrs []string
	st := sessions.NewStatus(sessions.Env{Client: "c", Publish: func(e ctl.Event) {
		if e.Kind == ctl.KindQR {
			qrs = append(qrs, e.QR)
		}
	}})
	st.Set(ctl.StateStarting, "", "")
	for _, q := range []string{"a", "b", "b", "c"} {
		st.Update(func(s *ctl.Session) { s.State, s.QR = ctl.StateQR, q })
	}
	if len(qrs) != 3 || qrs[2] != "c" {
		t.Fatalf("qr events %v, want [a b c]", qrs)
	}
}
