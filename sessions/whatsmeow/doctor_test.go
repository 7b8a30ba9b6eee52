package whatsmeow_test

import (
	"strings"
	"testing"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/internal/wafake"
)

// TestDoctorCountsTheAccountsLinkedDevices prevents wad.doctor missing
// a full "Linked devices" list: it asks WhatsApp for each connected
// session's account and warns once the account has its four companions,
// so the next link would fail.
func TestDoctorCountsTheAccountsLinkedDevices(t *testing.T) {
	srv, _, d := newDaemon(t, wafake.Options{})
	me := newAccount(t, srv, "4915112340300", "Support")
	devices := func() []ctl.Finding {
		res := rpc[ctl.DoctorResult](t, d, ctl.MethodDoctor, ctl.Empty{})
		var out []ctl.Finding
		for _, f := range res.Findings {
			if f.Check == ctl.CheckDevices {
				out = append(out, f)
			}
		}
		return out
	}
	linkOverSocket(t, d, me, "one")
	if fs := devices(); len(fs) != 1 || fs[0].Client != "one" || fs[0].Status != ctl.FindingOK || !strings.HasPrefix(fs[0].Message, "1 of 4 linked devices") {
		t.Fatalf("one device: %+v", fs)
	}
	for _, c := range []string{"two", "three", "four"} {
		linkOverSocket(t, d, me, c)
	}
	fs := devices()
	if len(fs) != 4 {
		t.Fatalf("four devices: %+v", fs)
	}
	for _, f := range fs {
		if f.Status != ctl.FindingWarn || !strings.HasPrefix(f.Message, "4 of 4 linked devices") || !strings.Contains(f.Fix, "Linked devices") {
			t.Errorf("%+v", f)
		}
	}
}
