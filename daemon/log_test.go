package daemon

import (
	"log/slog"
	"testing"

	"github.com/coreos/go-systemd/v22/journal"
)

func TestJournalEntriesCarryWadFields(t *testing.T) {
	type entry struct {
		msg  string
		prio journal.Priority
		vars map[string]string
	}
	var got []entry
	level := new(slog.LevelVar)
	h := newJournalHandler(level, func(m string, p journal.Priority, v map[string]string) error {
		got = append(got, entry{m, p, v})
		return nil
	})
	log := slog.New(h).With("client", "sales", "backend", "whatsmeow")
	log.Info("session state changed", "state", "qr", "from", "starting")
	log.Debug("hidden at info level")
	log.Error("boom", "err", "disk full")
	if len(got) != 2 {
		t.Fatalf("%d entries, want 2 (debug filtered)", len(got))
	}
	e := got[0]
	if e.vars["WAD_CLIENT"] != "sales" || e.vars["WAD_BACKEND"] != "whatsmeow" || e.vars["WAD_STATE"] != "qr" || e.prio != journal.PriInfo {
		t.Fatalf("fields: %+v", e)
	}
	if e.msg != "session state changed client=sales backend=whatsmeow state=qr from=starting" {
		t.Fatalf("message: %q", e.msg)
	}
	if got[1].prio != journal.PriErr || got[1].vars["WAD_ERR"] != "disk full" {
		t.Fatalf("error entry: %+v", got[1])
	}
}
