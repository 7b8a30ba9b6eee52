package chromedp_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon/daemontest"
	"github.com/wad-project/wad/sessions"
	"github.com/wad-project/wad/sessions/chromedp"
)

// Prevents: the chromedp backend working in-process but not through the
// daemon: concurrent session.login calls over the real socket must share
// one browser, and message.send must reach the right chat.
func TestOverTheSocket(t *testing.T) {
	t.Parallel()
	f := chromedp.NewFakeWA(t)
	dir := t.TempDir()
	b, err := chromedp.New(chromedp.Config{WebURL: f.URL("")}, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{b}, DefaultBackend: chromedp.Name, StateDir: dir})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	var wg sync.WaitGroup
	res := make([]*ctl.Session, 10)
	errs := make([]error, 10)
	for i := range res {
		c := d.Client
		if i%2 == 1 {
			c = d.Dial()
		}
		wg.Go(func() { res[i], errs[i] = c.Login(ctx, ctl.LoginParams{Client: "sock"}) })
	}
	wg.Wait()
	pid := 0
	for i := range res {
		if errs[i] != nil {
			t.Fatalf("login %d: %v", i, errs[i])
		}
		if res[i].State != ctl.StateQR || res[i].QR == "" || res[i].Backend != chromedp.Name {
			t.Fatalf("login %d: %+v, want a chromedp qr", i, res[i])
		}
		if pid == 0 {
			pid = res[i].PID
		}
		if res[i].PID != pid {
			t.Errorf("login %d saw browser pid %d, others %d", i, res[i].PID, pid)
		}
	}
	if n := len(chromedp.ProfileProcesses(chromedp.ProfileDir(dir, "sock"))); n == 0 {
		t.Fatal("no browser on the profile")
	}
	dev := chromedp.DeviceOf(t, res[0].QR)
	f.Scan(dev)
	for {
		st, err := d.Client.Session(ctx, "sock")
		if err != nil {
			t.Fatal(err)
		}
		if st.State == ctl.StateConnected {
			if st.PID == 0 || st.RSSBytes == 0 {
				t.Errorf("session.status lacks pid/rss: %+v", st)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("never connected: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	sent, err := d.Client.Send(ctx, ctl.SendParams{Client: "sock", To: "+4915112345678", Text: "over the socket"})
	if err != nil {
		t.Fatal(err)
	}
	got := f.SentBy(dev)
	if len(got) != 1 || got[0].To != "4915112345678@c.us" || got[0].Body != "over the socket" || got[0].ID != sent.ID {
		t.Errorf("fake recorded %+v, want the message (id %s) to 4915112345678@c.us", got, sent.ID)
	}
	d.Stop()
	for i := 0; i < 100 && len(chromedp.ProfileProcesses(chromedp.ProfileDir(dir, "sock"))) > 0; i++ {
		time.Sleep(50 * time.Millisecond)
	}
	if left := chromedp.ProfileProcesses(chromedp.ProfileDir(dir, "sock")); len(left) > 0 {
		t.Errorf("browser processes left after daemon shutdown: %v", left)
	}
	// In reaper mode reset (the default) the shutdown logged the session
	// out: the phone lists no device of it.
	if got := f.LinkedDevices(); len(got) != 0 {
		t.Errorf("linked devices after a shutdown in reset mode: %q, want none", got)
	}
}
