package daemon

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon/doctor"
	"github.com/wad-project/wad/sessions"
)

// doctorTTL is how long wad.doctor reuses the findings of its costly
// checks (Chromium started with its sandbox, every store read whole,
// WhatsApp asked for each account's devices) before making them again.
// Calls while they are being made wait for them and share them: however
// many peers call wad.doctor, at most one browser runs and each store is
// read once. The quick checks (state directory, Chromium's presence,
// disk) and the sessions are made at each call, so a fix shows at once.
const doctorTTL = 15 * time.Second

// doctorDeep makes the costly checks; a test seam.
var doctorDeep = doctor.Deep

// doctorer binds wad.doctor for d, with the caches of its checks.
func (d *Daemon) doctorer() impl {
	caches := &doctorCaches{deep: doctorCache{ttl: doctorTTL}, devices: doctorCache{ttl: doctorTTL}}
	return bind(func(ctx context.Context, c *call, _ ctl.Empty) (ctl.DoctorResult, error) {
		return d.doctor(ctx, c, caches)
	})
}

// doctorCaches are wad.doctor's: the costly host checks (made again
// sooner for another browser), and the devices of the accounts (made
// again sooner when the sessions change).
type doctorCaches struct{ deep, devices doctorCache }

// doctor serves wad.doctor: the checks of package daemon/doctor, made as
// the daemon's own user, on the running config and the sessions the peer
// may see. The config finding says the running config is valid (it was
// validated at start or reload; `wad check-config` checks the file).
// What Chromium is needed for is the daemon's business (every
// session's), not the caller's; a peer sees the session and devices
// findings of the clients it may read, no others.
func (d *Daemon) doctor(ctx context.Context, c *call, caches *doctorCaches) (ctl.DoctorResult, error) {
	cfg := d.config()
	list := d.reg.List()
	u, err := user.LookupId(strconv.Itoa(os.Geteuid()))
	if err != nil {
		u = &user.User{Uid: strconv.Itoa(os.Geteuid()), Gid: strconv.Itoa(os.Getegid()), Username: "uid " + strconv.Itoa(os.Geteuid())}
	}
	o := doctor.Options{
		StateDir:       cfg.StateDir,
		DefaultBackend: cfg.Sessions.DefaultBackend,
		Chromedp:       cfg.Chromedp,
		User:           u,
		Sessions:       list,
	}
	host, chromium := doctor.Host(ctx, o)
	deep, err := caches.deep.get(ctx, chromium, func(ctx context.Context) []ctl.Finding { return doctorDeep(ctx, o, chromium) })
	if err != nil {
		return ctl.DoctorResult{}, err
	}
	devices, err := caches.devices.get(ctx, sessionsKey(list), func(ctx context.Context) []ctl.Finding {
		return doctor.Devices(ctx, list, d.linkedDevices)
	})
	if err != nil {
		return ctl.DoctorResult{}, err
	}
	findings := []ctl.Finding{doctor.Config(fmt.Sprintf("running config (socket %s, state_dir %s)", cfg.Socket, cfg.StateDir), nil)}
	findings = append(findings, host[:2]...) // state_dir, chromium
	findings = append(findings, deep...)
	findings = append(findings, host[2:]...) // disk
	var visible []ctl.Session
	for _, s := range list {
		if c.may(s.Client) {
			visible = append(visible, s)
		}
	}
	findings = append(findings, doctor.Sessions(visible)...)
	for _, f := range devices {
		if c.may(f.Client) {
			findings = append(findings, f)
		}
	}
	return ctl.DoctorResult{Findings: findings}, nil
}

// linkedDevices counts the devices of s's account: contact.info on its
// own JID.
func (d *Daemon) linkedDevices(ctx context.Context, s ctl.Session) (int, error) {
	jid, err := ctl.ParseUserJID("jid", doctor.UserJID(s.JID))
	if err != nil {
		return 0, err
	}
	info, err := doAs[ctl.ContactInfo](ctx, d, s.Client, sessions.ContactInfo{JID: jid})
	return info.Devices, err
}

// sessionsKey identifies the sessions a run of the checks saw: which
// clients, on which account, in which state. Findings made for other
// sessions (a device linked since, a session gone) are not reused.
func sessionsKey(list []ctl.Session) string {
	var b strings.Builder
	for _, s := range list {
		fmt.Fprintf(&b, "%s\x00%s\x00%s\x00%s\n", s.Client, s.Backend, s.State, s.JID)
	}
	return b.String()
}

// doctorCache shares one run of the doctor's checks between the calls
// that want it while it runs, and keeps its findings for ttl after it
// ended. The run does not belong to any one call: it goes on when the
// call that started it goes away, and is cancelled (and forgotten) when
// every call waiting for it has gone, so a daemon that stops is not
// held up by it.
type doctorCache struct {
	ttl time.Duration
	now func() time.Time // time.Now; a test seam

	mu  sync.Mutex
	run *doctorRun // the latest run, nil before the first
}

// doctorRun is one run of the checks. Its fields after done are set
// under doctorCache.mu before done is closed.
type doctorRun struct {
	key      string // sessionsKey of the sessions it saw
	done     chan struct{}
	cancel   context.CancelFunc
	waiters  int
	ended    time.Time
	findings []ctl.Finding
}

// get returns the findings of a run of check that ended at most ttl ago
// on the same sessions (key), starting one when there is none, and waits
// for them until ctx ends (then it returns ctx's error).
func (dc *doctorCache) get(ctx context.Context, key string, check func(context.Context) []ctl.Finding) ([]ctl.Finding, error) {
	now := dc.now
	if now == nil {
		now = time.Now
	}
	dc.mu.Lock()
	r := dc.run
	if r == nil || !r.ended.IsZero() && (now().Sub(r.ended) >= dc.ttl || r.key != key) {
		rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		r = &doctorRun{key: key, done: make(chan struct{}), cancel: cancel}
		dc.run = r
		go func() {
			defer cancel()
			fs := check(rctx)
			dc.mu.Lock()
			r.findings, r.ended = fs, now()
			dc.mu.Unlock()
			close(r.done)
		}()
	}
	r.waiters++
	dc.mu.Unlock()
	select {
	case <-r.done:
		dc.mu.Lock()
		r.waiters--
		dc.mu.Unlock()
		return r.findings, nil
	case <-ctx.Done():
		dc.mu.Lock()
		defer dc.mu.Unlock()
		if r.waiters--; r.waiters == 0 && r.ended.IsZero() {
			// Nobody wants it any more: what it would find is cut short,
			// so it must not be kept.
			r.cancel()
			if dc.run == r {
				dc.run = nil
			}
		}
		return nil, ctx.Err()
	}
}
