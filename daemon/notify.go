package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	sddaemon "github.com/coreos/go-systemd/v22/daemon"

	"github.com/wad-project/wad/ctl"
)

// sdNotify returns a function that sends states to systemd's notify
// socket. Outside systemd (no NOTIFY_SOCKET) it does nothing; a failure to
// send is logged once per state, never fatal.
func sdNotify(log *slog.Logger) func(string) {
	return func(state string) {
		if _, err := sddaemon.SdNotify(false, state); err != nil {
			log.Warn("sd_notify failed", "state", state, "err", err)
		}
	}
}

// statusLine says how many sessions are in which state, for STATUS= and
// the logs: "3 sessions: 2 connected, 1 qr".
func (d *Daemon) statusLine() string {
	counts := d.reg.Counts()
	n := 0
	var parts []string
	for _, st := range ctl.States {
		if c := counts[st]; c > 0 {
			n += c
			parts = append(parts, fmt.Sprintf("%d %s", c, st))
		}
	}
	s := fmt.Sprintf("%d sessions", n)
	if n == 1 {
		s = "1 session"
	}
	if len(parts) > 0 {
		s += ": " + strings.Join(parts, ", ")
	}
	return s
}

// watchdog pings systemd at half of WatchdogSec, and only while the
// registry answers a Ping within that half: a wedged registry stops the
// pings and systemd restarts the daemon. It also refreshes STATUS= when
// the session counts change.
func (d *Daemon) watchdog(ctx context.Context) {
	interval, err := sddaemon.SdWatchdogEnabled(false)
	if err != nil {
		d.log.Warn("watchdog setting is invalid", "err", err)
	}
	period := 5 * time.Second
	if interval > 0 {
		period = interval / 2
		d.log.Info("systemd watchdog enabled", "interval", interval)
	}
	t := time.NewTicker(period)
	defer t.Stop()
	last := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, period)
		err := d.alive(pctx)
		cancel()
		if err != nil {
			d.log.Error("registry did not answer; withholding the watchdog ping", "err", err)
			continue
		}
		var states []string
		if interval > 0 {
			states = append(states, "WATCHDOG=1")
		}
		if s := d.statusLine(); s != last {
			last = s
			states = append(states, "STATUS="+s)
		}
		if len(states) > 0 {
			d.notify(strings.Join(slices.Clip(states), "\n"))
		}
	}
}
