package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/user"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon"
	"github.com/wad-project/wad/daemon/doctor"
)

// serviceUser is the user the packaged unit runs wad as.
const serviceUser = "wad"

// doctorCmd is `wad doctor [--config FILE] [--user NAME] [--json]`: the
// daemon's health checks (package daemon/doctor) without a daemon, for
// `wactl doctor` when wad does not answer. It reports the same findings
// as wad.doctor, minus the sessions. --user is the user wad runs as: the
// state directory should belong to it and the sandbox is tried as it;
// by default the user wad when run as root and that user exists (the
// packaged install), else the calling user (a wad of one's own). It
// fails (exit 1) when a finding failed.
func doctorCmd(config, userName string, asJSON bool, stdout io.Writer) error {
	u, err := doctorUser(userName)
	if err != nil {
		return err
	}
	source := config
	if source == "" {
		source = "embedded defaults"
	}
	cfg, cerr := daemon.LoadConfig(config)
	findings := []ctl.Finding{doctor.Config(source, cerr)}
	if cfg.StateDir != "" && cfg.StateDir[0] == '/' {
		findings = append(findings, doctor.Run(context.Background(), doctor.Options{
			StateDir:       cfg.StateDir,
			DefaultBackend: cfg.Sessions.DefaultBackend,
			Chromedp:       cfg.Chromedp,
			User:           u,
		})...)
	}
	report := ctl.NewDoctorReport(findings)
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report); err != nil {
			return err
		}
	} else if err := ctl.WriteFindings(stdout, findings); err != nil {
		return err
	}
	return report.Err()
}

// doctorUser returns the user named, or the default of doctorCmd.
func doctorUser(name string) (*user.User, error) {
	if name != "" {
		u, err := user.Lookup(name)
		if err != nil {
			return nil, fmt.Errorf("--user: %w", err)
		}
		return u, nil
	}
	if os.Geteuid() == 0 {
		if u, err := user.Lookup(serviceUser); err == nil {
			return u, nil
		}
	}
	return user.Current()
}
