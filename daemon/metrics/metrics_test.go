package metrics

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/reaper"
	"github.com/wad-project/wad/sessions"
	"github.com/wad-project/wad/sessions/outbox"
)

// full is a Sources in which every metric has a value.
func full() Sources {
	return Sources{
		Version:  "test",
		Backends: []string{"whatsmeow", "chromedp"},
		Sessions: func() []ctl.Session {
			return []ctl.Session{
				{Client: "sales", Backend: "chromedp", State: ctl.StateConnected, MemoryBytes: 300 << 20, MemoryMax: 1 << 30, CPUSeconds: 12.5, Procs: 7},
				{Client: "support", Backend: "whatsmeow", State: ctl.StateQR, RSSBytes: 1 << 20},
			}
		},
		EventLog: func(context.Context) (ctl.EventLogStatus, error) {
			return ctl.EventLogStatus{Head: 100, Oldest: 40, Events: 61, Bytes: 4096, Consumers: 1}, nil
		},
		Positions: func(context.Context) (map[string]uint64, error) { return map[string]uint64{"crm": 90}, nil },
		Bus:       &sessions.Bus{},
		Queued:    func() map[string]int { return map[string]int{"sales": 3} },
		Finished: func() map[outbox.Finished]uint64 {
			return map[outbox.Finished]uint64{{Kind: "text", State: ctl.OutSent}: 2, {Kind: "image", State: ctl.OutFailed}: 1}
		},
		Webhooks: func(context.Context) []ctl.WebhookStatus {
			return []ctl.WebhookStatus{{Name: "crm", Pending: 4, Delivered: 9, DeadLetters: 1}}
		},
		Reaper: &reaper.Report{Time: time.Unix(1700000000, 0), Mode: "reset", Killed: 2, Removed: 5, Error: "x"},
	}
}

// series returns the names of the series in mfs, histograms' and
// summaries' with their suffixes.
func series(mfs []*dto.MetricFamily) []string {
	var out []string
	for _, mf := range mfs {
		switch mf.GetType() {
		case dto.MetricType_HISTOGRAM:
			out = append(out, mf.GetName()+"_bucket", mf.GetName()+"_sum", mf.GetName()+"_count")
		case dto.MetricType_SUMMARY:
			out = append(out, mf.GetName(), mf.GetName()+"_sum", mf.GetName()+"_count")
		default:
			out = append(out, mf.GetName())
		}
	}
	return out
}

// Prevents: Names (what the dashboard test checks queries against)
// listing a metric the daemon never exposes, or missing one it does.
func TestNamesAreExactlyWhatAFullScrapeShows(t *testing.T) {
	m := New(full())
	m.ObserveCall("wad.status", 0, time.Millisecond)
	m.Observe(ctl.Event{Kind: ctl.KindState, Session: &ctl.Session{State: ctl.StateConnected}})
	mfs, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := series(mfs)
	names := Names()
	for _, n := range got {
		if !slices.Contains(names, n) {
			t.Errorf("scrape has %s, Names lacks it", n)
		}
	}
	for _, n := range names {
		if strings.HasPrefix(n, "wad_") && !slices.Contains(got, n) {
			t.Errorf("Names lists %s, a full scrape lacks it", n)
		}
	}
	for _, n := range got {
		if strings.HasPrefix(n, "wad_") && !strings.HasSuffix(n, "_bucket") && !strings.HasSuffix(n, "_sum") && !strings.HasSuffix(n, "_count") {
			for _, mf := range mfs {
				if mf.GetName() == n && mf.GetType() == dto.MetricType_COUNTER && !strings.HasSuffix(n, "_total") {
					t.Errorf("counter %s does not end in _total", n)
				}
			}
		}
	}
}

// value returns the value of the series name{labels} in mfs, and
// whether it is there.
func value(mfs []*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue next
				}
			}
			switch {
			case m.Gauge != nil:
				return m.GetGauge().GetValue(), true
			case m.Counter != nil:
				return m.GetCounter().GetValue(), true
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount()), true
			}
		}
	}
	return 0, false
}

// Prevents: per-session figures summed or made up for sessions without
// a cgroup, and the scrape-time figures read wrongly.
func TestScrapeReadsTheSources(t *testing.T) {
	mfs, err := New(full()).Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"wad_sessions", map[string]string{"state": "connected", "backend": "chromedp"}, 1},
		{"wad_sessions", map[string]string{"state": "qr", "backend": "whatsmeow"}, 1},
		{"wad_sessions", map[string]string{"state": "failed", "backend": "whatsmeow"}, 0},
		{"wad_session_memory_bytes", map[string]string{"client": "sales", "backend": "chromedp"}, 300 << 20},
		{"wad_session_memory_max_bytes", map[string]string{"client": "sales"}, 1 << 30},
		{"wad_session_cpu_seconds_total", map[string]string{"client": "sales"}, 12.5},
		{"wad_session_processes", map[string]string{"client": "sales"}, 7},
		{"wad_event_log_head_seq", nil, 100},
		{"wad_event_log_events", nil, 61},
		{"wad_event_log_consumer_lag_events", map[string]string{"consumer": "crm"}, 10},
		{"wad_outbox_queued", map[string]string{"client": "sales"}, 3},
		{"wad_messages_sent_total", map[string]string{"kind": "text"}, 2},
		{"wad_messages_sent_total", map[string]string{"kind": "video"}, 0},
		{"wad_messages_failed_total", map[string]string{"kind": "image"}, 1},
		{"wad_webhook_pending_events", map[string]string{"webhook": "crm"}, 4},
		{"wad_webhook_delivered_total", map[string]string{"webhook": "crm"}, 9},
		{"wad_reaper_processes_killed", nil, 2},
		{"wad_reaper_last_run_success", nil, 0},
		{"wad_reaper_last_run_timestamp_seconds", map[string]string{"mode": "reset"}, 1700000000},
	} {
		if got, ok := value(mfs, c.name, c.labels); !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if _, ok := value(mfs, "wad_session_memory_bytes", map[string]string{"client": "support"}); ok {
		t.Error("a session without a cgroup has wad_session_memory_bytes")
	}
}

// Prevents: metrics served to the network without authentication.
func TestCheckListen(t *testing.T) {
	for _, ok := range []string{"", "/run/wad/metrics.sock", "127.0.0.1:9464", "127.1.2.3:0", "[::1]:9464", "localhost:9464"} {
		if err := CheckListen(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for addr, want := range map[string]string{
		"0.0.0.0:9464":                 "not a loopback",
		":9464":                        "not a loopback",
		"[::]:9464":                    "not a loopback",
		"192.168.1.2:80":               "not a loopback",
		"example.com:80":               "not a loopback",
		"metrics.sock":                 "neither an absolute Unix socket path nor host:port",
		"127.0.0.1":                    "neither",
		"127.0.0.1:http":               "port",
		"127.0.0.1:65536":              "port",
		"/" + strings.Repeat("x", 200): "bytes",
	} {
		err := CheckListen(addr)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "metrics.listen") {
			t.Errorf("%q: got %v, want an error about %q", addr, err, want)
		}
	}
}

// Prevents: a crash's stale socket blocking the next start, a second
// daemon stealing a live endpoint, and a socket left behind.
func TestUnixListenerStaleLiveAndRemoved(t *testing.T) {
	dir, err := os.MkdirTemp("", "wadm")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "m.sock")
	stale, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close() // the file stays, nobody answers
	ln, err := Listen(path, -1)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket mode: %v, %v", fi, err)
	}
	if _, err := Listen(path, -1); err == nil || !strings.Contains(err.Error(), "already serves") {
		t.Fatalf("second listener on a live socket: %v", err)
	}
	srv := Serve(ln, New(Sources{Version: "test"}), slogDiscard())
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", path)
	}}}
	resp, err := c.Get("http://wad/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `wad_build_info{version="test"} 1`) {
		t.Fatalf("scrape: %d %s", resp.StatusCode, body)
	}
	if err := srv.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket left after Close: %v", err)
	}
}

func slogDiscard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// fakeTCP is a listener that says it listens on addr.
type fakeTCP struct {
	net.Listener
	addr   net.Addr
	closed bool
}

func (f *fakeTCP) Addr() net.Addr { return f.addr }
func (f *fakeTCP) Close() error   { f.closed = true; return f.Listener.Close() }

// Prevents: metrics served without authentication to the network
// because "localhost" resolved to something else than a loopback
// address (an /etc/hosts entry, a DNS server answering for it).
func TestListenRefusesLocalhostThatIsNotLoopback(t *testing.T) {
	var fake *fakeTCP
	listenTCP = func(network, addr string) (net.Listener, error) {
		ln, err := net.Listen(network, "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		fake = &fakeTCP{Listener: ln, addr: &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 9464}}
		return fake, nil
	}
	defer func() { listenTCP = net.Listen }()
	ln, err := Listen("localhost:9464", -1)
	if err == nil {
		ln.Close()
		t.Fatal("Listen served on 192.0.2.7:9464 for localhost:9464")
	}
	if !strings.Contains(err.Error(), "not a loopback") || !fake.closed {
		t.Errorf("got %v (listener closed: %v), want a loopback error and the listener closed", err, fake.closed)
	}
	listenTCP = net.Listen
	if ln, err := Listen("localhost:0", -1); err != nil {
		t.Errorf("localhost:0: %v", err)
	} else {
		ln.Close()
	}
}

// Prevents: a label any reader of the socket controls growing without
// bound. Every events.ack with a new consumer name makes a consumer
// that wad.db keeps; the lag metric shows only the MaxConsumerSeries
// furthest behind.
func TestConsumerLagSeriesAreBounded(t *testing.T) {
	src := full()
	src.Positions = func(context.Context) (map[string]uint64, error) {
		pos := map[string]uint64{"stuck": 0}
		for i := range 1000 {
			pos["c"+strconv.Itoa(i)] = 100
		}
		return pos, nil
	}
	mfs, err := New(src).Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		if mf.GetName() == "wad_event_log_consumer_lag_events" {
			n = len(mf.GetMetric())
		}
	}
	if n != MaxConsumerSeries {
		t.Errorf("1001 consumers make %d lag series, want %d", n, MaxConsumerSeries)
	}
	if v, ok := value(mfs, "wad_event_log_consumer_lag_events", map[string]string{"consumer": "stuck"}); !ok || v != 100 {
		t.Errorf("the consumer furthest behind: %v, %v; want it shown, 100 behind", v, ok)
	}
}
