package whatsmeow_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon"
	"github.com/wad-project/wad/daemon/daemontest"
	"github.com/wad-project/wad/internal/wafake"
	"github.com/wad-project/wad/sessions"
	wm "github.com/wad-project/wad/sessions/whatsmeow"
)

// BenchmarkContactCheckPace checks 200 numbers (a quarter of them on
// WhatsApp) over the socket against the fake WhatsApp, with the daemon
// pacing queries of check_batch numbers at most once per check_interval,
// and reports the pace reached next to the configured one. numbers/s
// should approach configured-numbers/s from below over many iterations
// (the first query of a run goes at once, so one short run may come out
// a few percent above). The pace is the point, so it is reported, not
// asserted.
func BenchmarkContactCheckPace(b *testing.B) {
	const (
		batch    = 10
		interval = 50 * time.Millisecond
		numbers  = 200
	)
	srv := newFake(b, wafake.Options{})
	acct := newAccount(b, srv, "4915100000001", "Sales")
	var phones []string
	for i := range numbers {
		p := fmt.Sprintf("49151%07d", 2000000+i)
		if i%4 == 0 {
			newAccount(b, srv, p, "")
		}
		phones = append(phones, "+"+p)
	}
	log := slog.New(slog.DiscardHandler)
	be := newBackend(b, b.TempDir(), srv, log)
	d := daemontest.Start(b, daemontest.Options{
		Backends:       []sessions.Backend{be},
		DefaultBackend: wm.Name,
		StartTimeout:   60 * time.Second,
		Log:            log,
		Config: func(c *daemon.Config) {
			c.Sessions.CheckBatch = batch
			c.Sessions.CheckInterval = interval
		},
	})
	ctx := context.Background()
	st, err := d.Client.Login(ctx, ctl.LoginParams{Client: "sales"})
	if err != nil || st.State != ctl.StateQR {
		b.Fatalf("login: %+v, %v", st, err)
	}
	link(b, acct, func() ctl.Session {
		s, err := d.Client.Session(ctx, "sales")
		if err != nil {
			b.Fatal(err)
		}
		return *s
	})
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		var res ctl.CheckResult
		if err := d.Client.Call(ctx, ctl.MethodCheck, ctl.CheckParams{Client: "sales", Phones: phones}, &res); err != nil {
			b.Fatal(err)
		}
		on := 0
		for _, r := range res.Results {
			if r.OnWhatsApp {
				on++
			}
		}
		if len(res.Results) != numbers || on != numbers/4 {
			b.Fatalf("%d results, %d on WhatsApp; want %d and %d", len(res.Results), on, numbers, numbers/4)
		}
	}
	elapsed := time.Since(start)
	b.ReportMetric(float64(numbers*b.N)/elapsed.Seconds(), "numbers/s")
	b.ReportMetric(float64(batch)/interval.Seconds(), "configured-numbers/s")
}
