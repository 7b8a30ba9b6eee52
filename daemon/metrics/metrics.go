// Package metrics owns what wad tells Prometheus: a private registry
// holding the Go and process collectors and wad's own metrics (sessions
// by state and backend, state changes by reason, messages received, sent
// and failed by kind, the event log, the outbound queue, webhooks, RPC
// calls by method and code with their latency, the last start's reaper
// run, and each session's cgroup figures), the HTTP endpoint that serves
// them on a Unix socket or a loopback port, and the check of
// `[metrics] listen`. Counters the daemon drives (RPC calls, events) are
// fed through Metrics' methods; everything else is read from Sources at
// scrape time, so a scrape shows the state of that moment and nothing is
// kept twice.
package metrics

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/reaper"
	"github.com/wad-project/wad/sessions"
	"github.com/wad-project/wad/sessions/outbox"
)

// Sources are what the scrape-time collectors read. A nil func leaves
// its metrics out.
type Sources struct {
	// Version is the daemon's version (wad_build_info).
	Version string
	// Backends names the backends (wad_sessions has a series for each
	// state of each).
	Backends []string
	// Sessions lists every session with its cgroup figures.
	Sessions func() []ctl.Session
	// EventLog and Positions read the event log's figures and its
	// consumers' positions.
	EventLog  func(context.Context) (ctl.EventLogStatus, error)
	Positions func(context.Context) (map[string]uint64, error)
	// Bus counts subscriptions, append errors and overflows.
	Bus *sessions.Bus
	// Queued counts each client's waiting messages; Finished the
	// messages that left the queue, by kind and state.
	Queued   func() map[string]int
	Finished func() map[outbox.Finished]uint64
	// Webhooks reads each webhook's delivery state.
	Webhooks func(context.Context) []ctl.WebhookStatus
	// Reaper is the report of the reaper's last run; nil: none.
	Reaper *reaper.Report
}

// scrapeTimeout bounds what one scrape reads from the database.
const scrapeTimeout = 5 * time.Second

// Kinds of message the per-kind counters start with at zero: a rate
// over a kind not seen yet is 0, not missing. Others still count.
var Kinds = append([]string{outbox.KindText}, append(slices.Clone(ctl.MediaKinds),
	outbox.KindLocation, outbox.KindContact, outbox.KindReaction, outbox.KindEdit, outbox.KindRevoke)...)

// Metrics is one daemon's metrics.
type Metrics struct {
	reg      *prometheus.Registry
	calls    *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	changes  *prometheus.CounterVec
	received *prometheus.CounterVec
}

// Buckets of wad_rpc_duration_seconds: from reads answered from memory
// to logins waiting for a QR code and sends waiting for WhatsApp.
var Buckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}

// New returns the metrics of a daemon reading src.
func New(src Sources) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wad_rpc_calls_total",
			Help: "JSON-RPC calls answered, by method and code (ok, or the JSON-RPC error code; cancelled when the caller or the daemon went away first).",
		}, []string{"method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wad_rpc_duration_seconds",
			Help:    "Time from a JSON-RPC call's dispatch to its result, by method.",
			Buckets: Buckets,
		}, []string{"method"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wad_session_state_changes_total",
			Help: "Session state changes, by the state entered and its reason (none when it has none).",
		}, []string{"state", "reason"}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wad_messages_received_total",
			Help: "Messages received from others, by kind: text, a media kind, location, contact, reaction, edit, revoke, other.",
		}, []string{"kind"}),
	}
	for _, k := range append(slices.Clone(Kinds), outbox.KindOther) {
		m.received.WithLabelValues(k)
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.calls, m.latency, m.changes, m.received,
		&scrape{src: src},
	)
	return m
}

// Gatherer is the registry, for tests and other exporters.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// Handler serves the metrics in the Prometheus text (or OpenMetrics)
// format. Errors of one collector leave its metrics out and are served
// with the rest, not as a failed scrape.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// ObserveCall counts a JSON-RPC call of method that took took and ended
// with code: 0 for a result, a JSON-RPC error code, or Cancelled.
func (m *Metrics) ObserveCall(method string, code int, took time.Duration) {
	c := "ok"
	switch {
	case code == Cancelled:
		c = "cancelled"
	case code != 0:
		c = strconv.Itoa(code)
	}
	m.calls.WithLabelValues(method, c).Inc()
	m.latency.WithLabelValues(method).Observe(took.Seconds())
}

// Cancelled is the code ObserveCall takes for a call that ended because
// its connection closed or the daemon stopped: it had no reply.
const Cancelled = 1

// UnknownMethod is the method label of calls to names the daemon does
// not serve (one label, whatever name the caller used).
const UnknownMethod = "unknown"

// TapKinds are the event kinds Observe counts.
var TapKinds = []string{ctl.KindState, ctl.KindMessage, ctl.KindReaction, ctl.KindEdit, ctl.KindRevoke}

// Observe counts ev: a state change by state and reason, a message,
// reaction, edit or revoke from someone else as received by kind.
func (m *Metrics) Observe(ev ctl.Event) {
	switch ev.Kind {
	case ctl.KindState:
		if ev.Session == nil {
			return
		}
		reason := ev.Session.Reason
		if reason == "" {
			reason = "none"
		}
		m.changes.WithLabelValues(string(ev.Session.State), reason).Inc()
	case ctl.KindMessage, ctl.KindReaction, ctl.KindEdit, ctl.KindRevoke:
		if ev.Message == nil || ev.Message.FromMe {
			return
		}
		kind := ev.Kind
		if kind == ctl.KindMessage {
			kind = ev.Message.Type
			if !slices.Contains(Kinds, kind) {
				kind = outbox.KindOther
			}
		}
		m.received.WithLabelValues(kind).Inc()
	}
}

// Follow counts the events of tap (a Bus.Tap of TapKinds) until ctx
// ends or the tap is removed.
func (m *Metrics) Follow(ctx context.Context, tap *sessions.Subscription) {
	for {
		ev, err := tap.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, sessions.ErrClosed) {
				return
			}
			// The log could not be read; the tap stays usable.
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		m.Observe(ev)
	}
}

// scrape is the collector of everything read at scrape time.
type scrape struct{ src Sources }

// scraped names the metrics of scrape, in the order desc made them.
var scraped []string

func desc(name, help string, labels ...string) *prometheus.Desc {
	scraped = append(scraped, name)
	return prometheus.NewDesc(name, help, labels, nil)
}

// driven names the metrics Metrics' methods drive; a histogram is
// exposed as its _bucket, _sum and _count series.
var driven = []string{"wad_rpc_calls_total", "wad_rpc_duration_seconds_bucket", "wad_rpc_duration_seconds_sum",
	"wad_rpc_duration_seconds_count", "wad_session_state_changes_total", "wad_messages_received_total"}

// Names returns, sorted, the name of every series a daemon's /metrics
// can hold: wad's own, whether or not they have a value yet, and those
// of the Go and process collectors on this host (a histogram's or a
// summary's with their suffixes). Dashboards may query these.
func Names() []string {
	names := append(slices.Clone(scraped), driven...)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		switch mf.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			names = append(names, mf.GetName()+"_bucket", mf.GetName()+"_sum", mf.GetName()+"_count")
		case dto.MetricType_SUMMARY:
			names = append(names, mf.GetName(), mf.GetName()+"_sum", mf.GetName()+"_count")
		default:
			names = append(names, mf.GetName())
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

var (
	dBuild        = desc("wad_build_info", "Always 1: the version of the wad serving these metrics.", "version")
	dSessions     = desc("wad_sessions", "Sessions in the registry, by state and backend.", "state", "backend")
	dMemory       = desc("wad_session_memory_bytes", "Memory the kernel charges to a session's cgroup (the browser and all its children).", "client", "backend")
	dMemoryMax    = desc("wad_session_memory_max_bytes", "The memory limit of a session's cgroup (memory_max), when it has one.", "client", "backend")
	dCPU          = desc("wad_session_cpu_seconds_total", "CPU time a session's cgroup used since its browser started.", "client", "backend")
	dProcs        = desc("wad_session_processes", "Processes in a session's cgroup.", "client", "backend")
	dLogHead      = desc("wad_event_log_head_seq", "The seq of the newest logged event.")
	dLogOldest    = desc("wad_event_log_oldest_seq", "The oldest seq the event log keeps (head + 1 when it keeps none).")
	dLogEvents    = desc("wad_event_log_events", "Events the event log holds.")
	dLogBytes     = desc("wad_event_log_bytes", "Bytes of event JSON the event log holds.")
	dLag          = desc("wad_event_log_consumer_lag_events", "Logged events after a named consumer's acknowledged position (head minus position); the 50 consumers furthest behind.", "consumer")
	dSubs         = desc("wad_event_subscriptions", "Event subscriptions peers hold.")
	dAppendErrors = desc("wad_event_log_append_errors_total", "Events the log refused (they went out live only, without a seq).")
	dFellBehind   = desc("wad_event_subscription_overflows_total", "Times a subscription's live queue overflowed and it read the log instead.")
	dQueued       = desc("wad_outbox_queued", "Messages waiting in a client's outbound queue.", "client")
	dSent         = desc("wad_messages_sent_total", "Messages the outbound queue sent (WhatsApp's server has them), by kind.", "kind")
	dFailed       = desc("wad_messages_failed_total", "Messages the outbound queue failed (rejected, retries exhausted, logged out, reset), by kind.", "kind")
	dHookPending  = desc("wad_webhook_pending_events", "Logged events a webhook has still to deliver.", "webhook")
	dHookDead     = desc("wad_webhook_dead_letters", "A webhook's dead letters (events it gave up on).", "webhook")
	dHookDone     = desc("wad_webhook_delivered_total", "Events a webhook delivered (kept in wad.db; reaper mode reset starts it again).", "webhook")
	dReapTime     = desc("wad_reaper_last_run_timestamp_seconds", "When the reaper's last run (before this daemon's start) ended.", "mode")
	dReapTook     = desc("wad_reaper_last_run_duration_seconds", "How long the reaper's last run took.")
	dReapOK       = desc("wad_reaper_last_run_success", "1 if the reaper's last run left the state clean, 0 if it reported an error.")
	dReapFound    = desc("wad_reaper_processes_found", "Browser processes of the state directory the reaper's last run found.")
	dReapSignal   = desc("wad_reaper_processes_signalled", "Browser main processes the reaper's last run sent SIGTERM.")
	dReapKilled   = desc("wad_reaper_processes_killed", "Processes the reaper's last run sent SIGKILL.")
	dReapRemoved  = desc("wad_reaper_removed_entries", "Files, links and directories the reaper's last run removed.")
	dReapBytes    = desc("wad_reaper_removed_bytes", "Bytes of the regular files the reaper's last run removed.")
	dReapLocks    = desc("wad_reaper_stale_locks", "Profiles whose stale Singleton locks the reaper's last run removed (mode preserve).")
	dReapQuar     = desc("wad_reaper_quarantined_logins", "Logins the reaper's last run moved to a quarantine to unlink (mode reset).")
)

var allDescs = []*prometheus.Desc{dBuild, dSessions, dMemory, dMemoryMax, dCPU, dProcs,
	dLogHead, dLogOldest, dLogEvents, dLogBytes, dLag, dSubs, dAppendErrors, dFellBehind,
	dQueued, dSent, dFailed, dHookPending, dHookDead, dHookDone,
	dReapTime, dReapTook, dReapOK, dReapFound, dReapSignal, dReapKilled, dReapRemoved, dReapBytes, dReapLocks, dReapQuar}

func (s *scrape) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

func (s *scrape) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	src := s.src
	gauge(dBuild, 1, src.Version)
	if src.Sessions != nil {
		s.sessions(ch, gauge, counter)
	}
	if src.EventLog != nil {
		if st, err := src.EventLog(ctx); err != nil {
			ch <- prometheus.NewInvalidMetric(dLogEvents, err)
		} else {
			gauge(dLogHead, float64(st.Head))
			gauge(dLogOldest, float64(st.Oldest))
			gauge(dLogEvents, float64(st.Events))
			gauge(dLogBytes, float64(st.Bytes))
			if src.Positions != nil {
				pos, err := src.Positions(ctx)
				if err != nil {
					ch <- prometheus.NewInvalidMetric(dLag, err)
				}
				for _, c := range mostBehind(pos, st.Head, MaxConsumerSeries) {
					gauge(dLag, float64(c.lag), c.name)
				}
			}
		}
	}
	if b := src.Bus; b != nil {
		gauge(dSubs, float64(b.Len()))
		counter(dAppendErrors, float64(b.AppendErrors()))
		counter(dFellBehind, float64(b.FellBehind()))
	}
	if src.Queued != nil {
		for client, n := range src.Queued() {
			gauge(dQueued, float64(n), client)
		}
	}
	if src.Finished != nil {
		sent, failed := make(map[string]uint64), make(map[string]uint64)
		for _, k := range Kinds {
			sent[k], failed[k] = 0, 0
		}
		for f, n := range src.Finished() {
			switch f.State {
			case ctl.OutSent:
				sent[f.Kind] += n
			case ctl.OutFailed:
				failed[f.Kind] += n
			}
		}
		for k, n := range sent {
			counter(dSent, float64(n), k)
		}
		for k, n := range failed {
			counter(dFailed, float64(n), k)
		}
	}
	if src.Webhooks != nil {
		for _, h := range src.Webhooks(ctx) {
			gauge(dHookPending, float64(h.Pending), h.Name)
			gauge(dHookDead, float64(h.DeadLetters), h.Name)
			counter(dHookDone, float64(h.Delivered), h.Name)
		}
	}
	if r := src.Reaper; r != nil {
		gauge(dReapTime, float64(r.Time.UnixNano())/1e9, r.Mode)
		gauge(dReapTook, r.TookSeconds)
		ok := 1.0
		if r.Error != "" {
			ok = 0
		}
		gauge(dReapOK, ok)
		gauge(dReapFound, float64(r.Found))
		gauge(dReapSignal, float64(r.Signalled))
		gauge(dReapKilled, float64(r.Killed))
		gauge(dReapRemoved, float64(r.Removed))
		gauge(dReapBytes, float64(r.Bytes))
		gauge(dReapLocks, float64(r.StaleLocks))
		gauge(dReapQuar, float64(r.Quarantined))
	}
}

// MaxConsumerSeries bounds the series of
// wad_event_log_consumer_lag_events: any peer that may read can name a
// new durable consumer, and each one would be a series for as long as
// wad.db keeps it. Past the bound, the consumers furthest behind are
// the ones shown.
const MaxConsumerSeries = 50

type consumerLag struct {
	name string
	lag  uint64
}

// mostBehind returns the at most n consumers of pos furthest behind
// head, the furthest first (by name among equals).
func mostBehind(pos map[string]uint64, head uint64, n int) []consumerLag {
	out := make([]consumerLag, 0, len(pos))
	for name, seq := range pos {
		out = append(out, consumerLag{name, head - min(seq, head)})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].lag != out[j].lag {
			return out[i].lag > out[j].lag
		}
		return out[i].name < out[j].name
	})
	return out[:min(n, len(out))]
}

// sessions collects wad_sessions (every state of every backend, zero
// included) and the cgroup figures of the sessions that have them.
func (s *scrape) sessions(ch chan<- prometheus.Metric, gauge, counter func(*prometheus.Desc, float64, ...string)) {
	type key struct{ state, backend string }
	n := make(map[key]int)
	for _, b := range s.src.Backends {
		for _, st := range ctl.States {
			n[key{string(st), b}] = 0
		}
	}
	list := s.src.Sessions()
	sort.Slice(list, func(i, j int) bool { return list[i].Client < list[j].Client })
	for _, ss := range list {
		n[key{string(ss.State), ss.Backend}]++
		if ss.MemoryBytes == 0 && ss.Procs == 0 && ss.CPUSeconds == 0 {
			continue // no cgroup
		}
		gauge(dMemory, float64(ss.MemoryBytes), ss.Client, ss.Backend)
		if ss.MemoryMax > 0 {
			gauge(dMemoryMax, float64(ss.MemoryMax), ss.Client, ss.Backend)
		}
		counter(dCPU, ss.CPUSeconds, ss.Client, ss.Backend)
		gauge(dProcs, float64(ss.Procs), ss.Client, ss.Backend)
	}
	for k, v := range n {
		gauge(dSessions, float64(v), k.state, k.backend)
	}
}
