package daemon_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon"
	"github.com/wad-project/wad/daemon/daemontest"
	"github.com/wad-project/wad/reaper"
	"github.com/wad-project/wad/sessions"
	"github.com/wad-project/wad/sessions/sessiontest"
)

// scrapeOf returns a function that scrapes a daemon's /metrics at addr
// (a socket path or host:port) and parses it.
func scrapeOf(t *testing.T, addr string) func() map[string]*dto.MetricFamily {
	tr := &http.Transport{}
	if path := addr; filepath.IsAbs(path) {
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		}
		addr = "wad"
	}
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	return func() map[string]*dto.MetricFamily {
		t.Helper()
		resp, err := hc.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatalf("scraping: %v", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("scraping: %s", resp.Status)
		}
		p := expfmt.NewTextParser(model.UTF8Validation)
		mfs, err := p.TextToMetricFamilies(resp.Body)
		if err != nil {
			t.Fatalf("parsing the scrape: %v", err)
		}
		return mfs
	}
}

// sample is the value of name{labels} in mfs (a histogram's count), 0
// when absent.
func sample(mfs map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	mf := mfs[name]
	if mf == nil {
		return 0
	}
next:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return 0
}

// Prevents: metrics that do not move with what the daemon does. A
// scripted run over the real socket (logins, a failing start, sends
// sent and one failed by a logout, messages received, unknown method and client,
// a consumer's ack, a stop and a logout) is scraped through the configured listener,
// a Unix socket and a loopback port, and every counter must have moved
// by exactly what the run did.
func TestMetricsScrapedAfterAScriptedRunMovedAsTheyShould(t *testing.T) {
	for _, kind := range []string{"unix", "tcp"} {
		t.Run(kind, func(t *testing.T) {
			dir, err := os.MkdirTemp("", "wadm")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
			listen := filepath.Join(dir, "metrics.sock")
			if kind == "tcp" {
				listen = "127.0.0.1:0"
			}
			state := filepath.Join(dir, "state")
			if err := os.MkdirAll(state, 0o700); err != nil {
				t.Fatal(err)
			}
			// What `wad reap` left for this start.
			rep := reaper.Report{Time: time.Unix(1700000000, 0).UTC(), Mode: "reset", Found: 3, Signalled: 1, Killed: 2, Removed: 5, Bytes: 2048, Quarantined: 1, TookSeconds: 0.25}
			b, _ := json.Marshal(rep)
			if err := os.WriteFile(filepath.Join(state, reaper.ReportFile), b, 0o600); err != nil {
				t.Fatal(err)
			}
			be := &sessiontest.Backend{Connect: true, StartErr: func(client string) error {
				if client == "broken" {
					return errors.New("no network")
				}
				return nil
			}}
			d := daemontest.Start(t, daemontest.Options{
				StateDir: state,
				Backends: []sessions.Backend{be, sessions.Unavailable("chromedp", "not built")},
				Config:   func(c *daemon.Config) { c.Metrics.Listen = listen },
			})
			addr := d.D.MetricsAddr()
			if kind == "unix" && addr != listen || kind == "tcp" && (!strings.HasPrefix(addr, "127.0.0.1:") || addr == listen) {
				t.Fatalf("metrics address %q (listen %q)", addr, listen)
			}
			if kind == "unix" {
				if fi, err := os.Stat(listen); err != nil || fi.Mode().Perm() != 0o660 || fi.Mode()&os.ModeSocket == 0 {
					t.Fatalf("metrics socket: %v, %v", fi, err)
				}
			}
			scrape := scrapeOf(t, addr)
			before := scrape()
			c := d.Client

			// The script.
			if s, err := c.Login(bg, ctl.LoginParams{Client: "sales"}); err != nil || s.State != ctl.StateConnected {
				t.Fatalf("login: %+v, %v", s, err)
			}
			_, loginErr := c.Login(bg, ctl.LoginParams{Client: "broken"})
			loginCode := "ok"
			if loginErr != nil {
				var ce *ctl.Error
				if !errors.As(loginErr, &ce) {
					t.Fatalf("failing login: %v", loginErr)
				}
				loginCode = fmt.Sprint(ce.Code)
			}
			if _, err := c.Send(bg, ctl.SendParams{Wait: true, Client: "sales", To: "+4915112345678", Text: "hello"}); err != nil {
				t.Fatalf("send: %v", err)
			}
			if _, err := c.Send(bg, ctl.SendParams{Wait: true, Client: "sales", To: "+4915112345678", Location: &ctl.Location{Lat: 52.5, Lon: 13.4}}); err != nil {
				t.Fatalf("send location: %v", err)
			}
			sess := be.Session("sales")
			now := time.Now()
			for _, ev := range []ctl.Event{
				{Client: "sales", Kind: ctl.KindMessage, Time: now, Message: &ctl.Message{ID: "A1", Chat: "4915112345678@s.whatsapp.net", Type: "image"}},
				{Client: "sales", Kind: ctl.KindMessage, Time: now, Message: &ctl.Message{ID: "A2", Chat: "4915112345678@s.whatsapp.net", Type: "text", Text: "hi"}},
				{Client: "sales", Kind: ctl.KindMessage, Time: now, Message: &ctl.Message{ID: "A3", Chat: "4915112345678@s.whatsapp.net", Type: "text", Text: "mine", FromMe: true}},
				{Client: "sales", Kind: ctl.KindMessage, Time: now, Message: &ctl.Message{ID: "A4", Chat: "4915112345678@s.whatsapp.net", Type: "poll"}},
				{Client: "sales", Kind: ctl.KindReaction, Time: now, Message: &ctl.Message{ID: "A5", Chat: "4915112345678@s.whatsapp.net", TargetID: "A1", Emoji: "❤"}},
			} {
				sess.Emit(ev)
			}
			_, err = c.Session(bg, "nobody")
			wantCode(t, "unknown client", err, ctl.CodeSessionNotFound)
			err = c.Call(bg, "no.such.method", nil, &struct{}{})
			wantCode(t, "unknown method", err, ctl.CodeMethodNotFound)
			if _, err := c.Ack(bg, "crm", 1); err != nil {
				t.Fatal(err)
			}
			if s, err := c.Stop(bg, "sales"); err != nil || s.State != ctl.StateStopped {
				t.Fatalf("stop: %+v, %v", s, err)
			}
			// Queued while stopped, failed by the logout.
			if r, err := c.Send(bg, ctl.SendParams{Client: "sales", To: "+4915112345678", Text: "later"}); err != nil || r.State != ctl.OutQueued {
				t.Fatalf("send while stopped: %+v, %v", r, err)
			}
			if _, err := c.Logout(bg, "sales"); err != nil {
				t.Fatalf("logout: %v", err)
			}

			type want struct {
				name   string
				labels []string
				delta  float64
			}
			wants := []want{
				{"wad_session_state_changes_total", []string{"state", "starting", "reason", "none"}, 2},
				{"wad_session_state_changes_total", []string{"state", "connected", "reason", "none"}, 1},
				{"wad_session_state_changes_total", []string{"state", "failed", "reason", "network"}, 1},
				{"wad_session_state_changes_total", []string{"state", "stopped", "reason", "stopped"}, 1},
				{"wad_session_state_changes_total", []string{"state", "logged_out", "reason", "logout"}, 1},
				{"wad_messages_sent_total", []string{"kind", "text"}, 1},
				{"wad_messages_sent_total", []string{"kind", "location"}, 1},
				{"wad_messages_sent_total", []string{"kind", "image"}, 0},
				{"wad_messages_failed_total", []string{"kind", "text"}, 1},
				{"wad_messages_failed_total", []string{"kind", "location"}, 0},
				{"wad_messages_received_total", []string{"kind", "image"}, 1},
				{"wad_messages_received_total", []string{"kind", "text"}, 1},
				{"wad_messages_received_total", []string{"kind", "other"}, 1},
				{"wad_messages_received_total", []string{"kind", "reaction"}, 1},
				{"wad_rpc_calls_total", []string{"method", "session.login", "code", "ok"}, 1},
				{"wad_rpc_calls_total", []string{"method", "session.login", "code", loginCode}, 1},
				{"wad_rpc_calls_total", []string{"method", "message.send", "code", "ok"}, 3},
				{"wad_rpc_calls_total", []string{"method", "session.status", "code", "-32000"}, 1},
				{"wad_rpc_calls_total", []string{"method", "unknown", "code", "-32601"}, 1},
				{"wad_rpc_calls_total", []string{"method", "events.ack", "code", "ok"}, 1},
				{"wad_rpc_calls_total", []string{"method", "session.stop", "code", "ok"}, 1},
				{"wad_rpc_calls_total", []string{"method", "session.logout", "code", "ok"}, 1},
				{"wad_rpc_duration_seconds", []string{"method", "session.login"}, 2},
				{"wad_rpc_duration_seconds", []string{"method", "message.send"}, 3},
			}
			if loginCode == "ok" {
				for i, w := range wants {
					if w.name == "wad_rpc_calls_total" && w.labels[1] == "session.login" {
						wants[i].delta = 2
					}
				}
			}
			// State changes and messages received are counted from the
			// event bus, a moment after they happen: wait for them.
			var after map[string]*dto.MetricFamily
			deadline := time.Now().Add(10 * time.Second)
			for {
				after = scrape()
				settled := true
				for _, w := range wants {
					if sample(after, w.name, w.labels...)-sample(before, w.name, w.labels...) != w.delta {
						settled = false
					}
				}
				if settled || time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			for _, w := range wants {
				if got := sample(after, w.name, w.labels...) - sample(before, w.name, w.labels...); got != w.delta {
					t.Errorf("%s%v moved by %v, want %v", w.name, w.labels, got, w.delta)
				}
			}
			// Nothing else moved: every rpc series not listed stayed.
			total := func(mfs map[string]*dto.MetricFamily, name string) (n float64) {
				for _, m := range mfs[name].GetMetric() {
					n += m.GetCounter().GetValue()
				}
				return n
			}
			if got := total(after, "wad_rpc_calls_total") - total(before, "wad_rpc_calls_total"); got != 10 {
				t.Errorf("wad_rpc_calls_total moved by %v in all, want 10", got)
			}
			if got := total(after, "wad_session_state_changes_total") - total(before, "wad_session_state_changes_total"); got != 6 {
				t.Errorf("wad_session_state_changes_total moved by %v in all, want 6", got)
			}
			if got := total(after, "wad_messages_received_total") - total(before, "wad_messages_received_total"); got != 4 {
				t.Errorf("wad_messages_received_total moved by %v in all, want 4 (one was from_me)", got)
			}

			// Gauges read at scrape time, against wad.status.
			st, err := c.Status(bg)
			if err != nil {
				t.Fatal(err)
			}
			after = scrape()
			if got := sample(after, "wad_rpc_calls_total", "method", "wad.status", "code", "ok"); got != 1 {
				t.Errorf("wad.status counted %v times, want 1", got)
			}
			for _, g := range []struct {
				name   string
				labels []string
				want   float64
			}{
				{"wad_sessions", []string{"state", "stopped", "backend", "whatsmeow"}, 0},
				{"wad_sessions", []string{"state", "logged_out", "backend", "whatsmeow"}, 0},
				{"wad_sessions", []string{"state", "failed", "backend", "whatsmeow"}, 1},
				{"wad_sessions", []string{"state", "connected", "backend", "whatsmeow"}, 0},
				{"wad_event_log_head_seq", nil, float64(st.EventLog.Head)},
				{"wad_event_log_events", nil, float64(st.EventLog.Events)},
				{"wad_event_log_consumer_lag_events", []string{"consumer", "crm"}, float64(st.EventLog.Head - 1)},
				{"wad_reaper_last_run_timestamp_seconds", []string{"mode", "reset"}, 1700000000},
				{"wad_reaper_processes_killed", nil, 2},
				{"wad_reaper_removed_entries", nil, 5},
				{"wad_reaper_quarantined_logins", nil, 1},
				{"wad_reaper_last_run_success", nil, 1},
				{"wad_build_info", []string{"version", "test"}, 1},
			} {
				if got := sample(after, g.name, g.labels...); got != g.want {
					t.Errorf("%s%v = %v, want %v", g.name, g.labels, got, g.want)
				}
			}
			if after["wad_outbox_queued"] != nil && sample(after, "wad_outbox_queued", "client", "sales") != 0 {
				t.Errorf("sales still has queued messages: %v", after["wad_outbox_queued"])
			}
			if after["go_goroutines"] == nil || after["process_resident_memory_bytes"] == nil {
				t.Error("the Go and process collectors are missing")
			}
			d.Stop()
			if kind == "unix" {
				if _, err := os.Lstat(listen); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("metrics socket left after shutdown: %v", err)
				}
			}
		})
	}
}

// Prevents: a metrics endpoint open to the network, and a daemon that
// starts without the metrics it was told to serve.
func TestMetricsListenRefusedOrUnusableFailsTheStart(t *testing.T) {
	for _, bad := range []string{"0.0.0.0:9464", "example.com:80", "metrics.sock", ":9464"} {
		cfg := daemon.DefaultConfig()
		cfg.Metrics.Listen = bad
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), "metrics.listen") {
			t.Errorf("listen %q: %v, want a metrics.listen error", bad, err)
		}
	}
	// A port already taken is a start error naming the key.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir, err := os.MkdirTemp("", "wadm")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	cfg := daemon.DefaultConfig()
	cfg.Socket = filepath.Join(dir, "wad.sock")
	cfg.StateDir = filepath.Join(dir, "state")
	cfg.Metrics.Listen = busy.Addr().String()
	_, err = daemon.New(bg, daemon.Options{Config: cfg, Backends: []sessions.Backend{&sessiontest.Backend{}}, Notify: func(string) {}})
	if err == nil || !strings.Contains(err.Error(), "metrics.listen") {
		t.Fatalf("start with a busy metrics port: %v", err)
	}
	// Nothing is left listening: the control socket can be taken again.
	cfg.Metrics.Listen = ""
	d, err := daemon.New(bg, daemon.Options{Config: cfg, Backends: []sessions.Backend{&sessiontest.Backend{}}, Notify: func(string) {}})
	if err != nil {
		t.Fatalf("start after the failed one: %v", err)
	}
	ctx, cancel := context.WithCancel(bg)
	cancel()
	if err := d.Serve(ctx); err != nil {
		t.Fatal(err)
	}
}

// usageBackend is the stand-in backend whose session "browser" runs in
// a cgroup of its own (sessions.UsageReporter).
type usageBackend struct{ *sessiontest.Backend }

func (b usageBackend) New(ctx context.Context, env sessions.Env) (sessions.Session, error) {
	s, err := b.Backend.New(ctx, env)
	if err != nil || env.Client != "browser" {
		return s, err
	}
	return usageSession{s.(*sessiontest.Session)}, nil
}

type usageSession struct{ *sessiontest.Session }

func (usageSession) Usage() (sessions.Usage, bool) {
	return sessions.Usage{MemoryBytes: 300 << 20, MemoryMax: 1 << 30, CPUSeconds: 1.5, Procs: 4}, true
}

// Prevents: per-session figures summed from RSS, made up for sessions
// without a cgroup, or kept for a session that stopped.
func TestMetricsPerSessionComeFromItsCgroup(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{
		Backends: []sessions.Backend{usageBackend{&sessiontest.Backend{Connect: true}}},
		Config:   func(c *daemon.Config) { c.Metrics.Listen = "127.0.0.1:0" },
	})
	for _, client := range []string{"browser", "plain"} {
		if _, err := d.Client.Login(bg, ctl.LoginParams{Client: client}); err != nil {
			t.Fatal(err)
		}
	}
	scrape := scrapeOf(t, d.D.MetricsAddr())
	mfs := scrape()
	for _, g := range []struct {
		name string
		want float64
	}{
		{"wad_session_memory_bytes", 300 << 20},
		{"wad_session_memory_max_bytes", 1 << 30},
		{"wad_session_cpu_seconds_total", 1.5},
		{"wad_session_processes", 4},
	} {
		if got := sample(mfs, g.name, "client", "browser", "backend", "whatsmeow"); got != g.want {
			t.Errorf("%s{client=browser} = %v, want %v", g.name, got, g.want)
		}
		for _, m := range mfs[g.name].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "client" && l.GetValue() != "browser" {
					t.Errorf("%s has a series for %s, which has no cgroup", g.name, l.GetValue())
				}
			}
		}
	}
	if _, err := d.Client.Stop(bg, "browser"); err != nil {
		t.Fatal(err)
	}
	if mfs := scrape(); mfs["wad_session_memory_bytes"] != nil {
		t.Errorf("a stopped session keeps its cgroup figures: %v", mfs["wad_session_memory_bytes"])
	}
}
