package daemon

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon/doctor"
)

// CountDoctorDeep counts the runs of wad.doctor's costly checks (each
// made to last at least 300 ms, so that calls overlap it) until restore.
func CountDoctorDeep() (runs func() int64, restore func()) {
	var n atomic.Int64
	prev := doctorDeep
	doctorDeep = func(ctx context.Context, o doctor.Options, chromium string) []ctl.Finding {
		n.Add(1)
		time.Sleep(300 * time.Millisecond)
		return prev(ctx, o, chromium)
	}
	return n.Load, func() { doctorDeep = prev }
}

// SetAccessForTest installs access rules without the root and own-user
// exemptions, so tests running as root can meet a denial.
func SetAccessForTest(d *Daemon, rules []AccessRule) error {
	for i := range rules {
		if err := rules[i].compile(); err != nil {
			return err
		}
	}
	d.pol.Store(&accessPolicy{rules: rules, self: -1, strict: true})
	return nil
}

// HangupPoll is how often a long call looks for its caller's hang-up.
const HangupPoll = hangupPoll
