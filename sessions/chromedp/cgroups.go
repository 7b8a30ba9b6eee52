package chromedp

import (
	"fmt"
	"sync"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/internal/bytesize"
	"github.com/wad-project/wad/internal/cgroup"
	"github.com/wad-project/wad/sessions"
)

// oomPoll is how often a run reads its cgroup's OOM kill counter.
var oomPoll = time.Second

// Option configures a Backend beyond its Config.
type Option func(*Backend)

// WithCgroups runs every browser in a cgroup of its own under t, with
// the limits of the [chromedp] table (Config.Limits). Nil: no cgroups,
// browsers run in the daemon's cgroup as before.
func WithCgroups(t *cgroup.Tree) Option {
	return func(b *Backend) { b.cgroups = t }
}

// runGroup is the cgroup of one browser run. It is closed (the group
// removed) when the run is torn down; reads after that report nothing.
type runGroup struct {
	limits cgroup.Limits
	name   string

	mu sync.Mutex
	g  *cgroup.Group // nil once closed
}

// newGroup makes the cgroup of the next run, or returns nil when the
// backend has no tree. A group that cannot be made is an error when
// limits apply to this client (a configured limit that cannot be
// enforced must not go unnoticed: the start fails, and the message says
// how to run without limits), and a warning otherwise (the group would
// only have measured memory).
func (s *Session) newGroup() (*runGroup, error) {
	t := s.b.cgroups
	if t == nil {
		return nil, nil
	}
	l, err := s.b.cfg.Limits(s.env.Client)
	if err != nil {
		return nil, s.groupFailed(fmt.Errorf("limits of client %s: %w", s.env.Client, err))
	}
	name := s.cgName
	if name == "" {
		name = "browser-" + s.env.Client
	}
	g, err := t.New(name, l)
	if err != nil {
		if l == (cgroup.Limits{}) {
			s.log.Warn("cannot give the browser a cgroup of its own; it runs without one", "cgroup", name, "tree", t.String(), "err", err)
			return nil, nil
		}
		return nil, s.groupFailed(fmt.Errorf("cannot put the browser in its own cgroup under %s with the configured limits (%s): %w", t, describeLimits(l), err))
	}
	return &runGroup{limits: l, name: name, g: g}, nil
}

// groupFailed fails the start for limits that cannot be applied.
func (s *Session) groupFailed(err error) error {
	msg := err.Error() + `; fix that or set [chromedp] cgroups = "off" to run browsers without limits`
	s.log.Error("browser not started: its limits cannot be applied", "err", err)
	s.st.Fail(ctl.ReasonBackendError, msg)
	return ctl.Errorf(ctl.CodeBackendUnavailable, "client %s: %s", s.env.Client, msg)
}

// describeLimits spells l for messages.
func describeLimits(l cgroup.Limits) string {
	s := ""
	add := func(k, v string) {
		if s != "" {
			s += ", "
		}
		s += k + " " + v
	}
	if l.MemoryMax > 0 {
		add("memory_max", bytesize.Format(l.MemoryMax))
	}
	if l.MemoryHigh > 0 {
		add("memory_high", bytesize.Format(l.MemoryHigh))
	}
	if l.CPUMax > 0 {
		add("cpu_max", fmt.Sprintf("%g CPUs", l.CPUMax))
	}
	if s == "" {
		return "none"
	}
	return s
}

// start says how the browser starts inside the group: cloned into it
// (v2 where clone3 works) or joining it before the exec (see
// cgroupStart); noCgroup without a group.
func (g *runGroup) start() cgroupStart {
	if g == nil {
		return noCgroup
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.g == nil {
		return noCgroup
	}
	if fd, ok := g.g.FD(); ok {
		return cgroupStart{fd: fd}
	}
	return cgroupStart{fd: -1, join: g.g.ProcsFiles(), strict: g.limits != (cgroup.Limits{})}
}

// add moves pid and its descendants into the group.
func (g *runGroup) add(pid int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.g == nil {
		return fmt.Errorf("cgroup %s is closed", g.name)
	}
	return g.g.Add(pid)
}

// stats reads the group's usage; ok is false once it is closed or when
// it cannot be read.
func (g *runGroup) stats() (cgroup.Stats, bool) {
	if g == nil {
		return cgroup.Stats{}, false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.g == nil {
		return cgroup.Stats{}, false
	}
	st, err := g.g.Stats()
	return st, err == nil
}

// close kills what still runs in the group and removes it, once.
func (g *runGroup) close() error {
	if g == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.g == nil {
		return nil
	}
	err := g.g.Close()
	g.g = nil
	return err
}

// oomMessage is the state message of a session whose browser the OOM
// killer struck.
func (g *runGroup) oomMessage() string {
	if g.limits.MemoryMax > 0 {
		return fmt.Sprintf("Chromium exceeded memory_max (%s); the kernel's OOM killer stopped it", bytesize.Format(g.limits.MemoryMax))
	}
	return "Chromium ran out of memory in its cgroup; the kernel's OOM killer stopped it"
}

// oomStruck reports whether the OOM killer killed a process of the run's
// group, with the message to fail the session with.
func (r *browserRun) oomStruck() (string, bool) {
	if r.cg == nil {
		return "", false
	}
	st, ok := r.cg.stats()
	if !ok || st.OOMKills == 0 {
		return "", false
	}
	return r.cg.oomMessage(), true
}

// oomReason turns the end of a browser (reason browser_exited or
// page_crashed) into memory_limit when the OOM killer caused it. A
// browser that died of a kill is seen a moment after the kernel counted
// it, but not always: the counter is read twice.
func (r *browserRun) oomReason(reason, msg string) (string, string) {
	if r.cg == nil || reason == ctl.ReasonMemoryLimit {
		return reason, msg
	}
	for i := 0; i < 2; i++ {
		if m, ok := r.oomStruck(); ok {
			return ctl.ReasonMemoryLimit, m
		}
		if i == 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	return reason, msg
}

// watchOOM fails the session with memory_limit as soon as the OOM killer
// kills any process of the run's group (Chromium may survive losing a
// renderer or a helper, but a browser at its limit is not a working
// session), and stops the browser. It ends with the run.
func (r *browserRun) watchOOM() {
	t := time.NewTicker(oomPoll)
	defer t.Stop()
	for {
		select {
		case <-r.torn:
			return
		case <-t.C:
		}
		if msg, ok := r.oomStruck(); ok {
			r.died(ctl.ReasonMemoryLimit, msg)
			return
		}
	}
}

// Usage reports the browser's cgroup usage while it runs (see
// sessions.UsageReporter); ok is false without a cgroup.
func (s *Session) Usage() (sessions.Usage, bool) {
	r := s.current()
	if r == nil || r.stopping.Load() || r.cg == nil {
		return sessions.Usage{}, false
	}
	st, ok := r.cg.stats()
	if !ok {
		return sessions.Usage{}, false
	}
	return sessions.Usage{MemoryBytes: st.MemoryBytes, MemoryMax: st.MemoryMax, CPUSeconds: st.CPUSeconds, Procs: st.Procs}, true
}

var _ sessions.UsageReporter = (*Session)(nil)
