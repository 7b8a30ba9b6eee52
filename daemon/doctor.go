package daemon

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"strconv"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon/doctor"
	"github.com/wad-project/wad/sessions"
)

// doctor serves wad.doctor: the checks of package daemon/doctor, made as
// the daemon's own user, on the running config and the sessions the peer
// may see. The config finding says the running config is valid (it was
// validated at start or reload; `wad check-config` checks the file).
func (d *Daemon) doctor(ctx context.Context, c *call, _ ctl.Empty) (ctl.DoctorResult, error) {
	cfg := d.config()
	var list []ctl.Session
	for _, s := range d.reg.List() {
		if c.may(s.Client) {
			list = append(list, s)
		}
	}
	u, err := user.LookupId(strconv.Itoa(os.Geteuid()))
	if err != nil {
		u = &user.User{Uid: strconv.Itoa(os.Geteuid()), Gid: strconv.Itoa(os.Getegid()), Username: "uid " + strconv.Itoa(os.Geteuid())}
	}
	findings := []ctl.Finding{doctor.Config(fmt.Sprintf("running config (socket %s, state_dir %s)", cfg.Socket, cfg.StateDir), nil)}
	findings = append(findings, doctor.Run(ctx, doctor.Options{
		StateDir:       cfg.StateDir,
		DefaultBackend: cfg.Sessions.DefaultBackend,
		Chromedp:       cfg.Chromedp,
		User:           u,
		Sessions:       list,
		Devices: func(ctx context.Context, s ctl.Session) (int, error) {
			jid, err := ctl.ParseUserJID("jid", doctor.UserJID(s.JID))
			if err != nil {
				return 0, err
			}
			info, err := doAs[ctl.ContactInfo](ctx, d, s.Client, sessions.ContactInfo{JID: jid})
			return info.Devices, err
		},
	})...)
	return ctl.DoctorResult{Findings: findings}, nil
}
