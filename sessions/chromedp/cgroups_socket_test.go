package chromedp_test

import (
	"context"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon"
	"github.com/wad-project/wad/daemon/daemontest"
	"github.com/wad-project/wad/sessions/chromedp"
)

// Prevents: the daemon not handing its cgroup tree to the chromedp
// backend it configures, session.status and session.list over the
// socket without the cgroup's usage, and an OOM kill in one browser
// reaching the daemon or another session.
func TestCgroupsThroughTheDaemon(t *testing.T) {
	tree := chromedp.NewTestTree(t)
	f := chromedp.NewFakeWA(t)
	tiny := "16M"
	d := daemontest.Start(t, daemontest.Options{
		Cgroups:        tree,
		DefaultBackend: chromedp.Name,
		Config: func(c *daemon.Config) {
			c.Chromedp.WebURL = f.URL("")
			c.Chromedp.Clients = map[string]chromedp.LimitsOverride{"tiny": {MemoryMax: &tiny}}
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if st, err := d.Client.Login(ctx, ctl.LoginParams{Client: "roomy"}); err != nil || st.State != ctl.StateQR {
		t.Fatalf("login roomy: %+v, %v", st, err)
	}
	st, err := d.Client.Session(ctx, "roomy")
	if err != nil || st.MemoryBytes <= 0 || st.Procs <= 0 || st.PID <= 0 {
		t.Fatalf("session.status roomy: %+v, %v; want its cgroup's memory and processes", st, err)
	}
	_, err = d.Client.Login(ctx, ctl.LoginParams{Client: "tiny"})
	t.Logf("login tiny: %v", err)
	for {
		st, err := d.Client.Session(ctx, "tiny")
		if err != nil {
			t.Fatal(err)
		}
		if st.State == ctl.StateFailed {
			if st.Reason != ctl.ReasonMemoryLimit {
				t.Fatalf("tiny failed with %s (%s), want %s", st.Reason, st.Message, ctl.ReasonMemoryLimit)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("tiny did not fail: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	list, err := d.Client.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		if s.Client == "roomy" && (s.State != ctl.StateQR || s.MemoryBytes <= 0) {
			t.Errorf("session.list roomy after tiny's OOM: %+v", s)
		}
		if s.Client == "tiny" && (s.MemoryBytes != 0 || s.PID != 0) {
			t.Errorf("session.list reports usage of tiny's dead browser: %+v", s)
		}
	}
}
