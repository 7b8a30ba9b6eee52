// Command wad is the WhatsApp session daemon. See README.md.
//
//	wad [serve] [--config FILE]     run the daemon in the foreground
//	wad check-config [--config FILE] validate the config and exit
//	wad reap [--config FILE] [--dry-run]  the ExecStartPre clean-up
//	wad delegate --user USER         hand the unit's cgroups to USER (ExecStartPre=+)
//	wad doctor [--config FILE] [--user NAME] [--json]  health checks without a daemon
//	wad version                      print the version
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"strconv"

	"github.com/wad-project/wad/daemon"
	"github.com/wad-project/wad/internal/cgroup"
	"github.com/wad-project/wad/reaper"
)

// version is set by the Makefile from git describe.
var version = "dev"

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "wad:", err)
		os.Exit(1)
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: wad [command] [--config FILE]

commands:
  serve          run the daemon in the foreground (the default)
  check-config   validate the configuration and exit
  reap           kill this wad's stale Chromium processes and reset the
                 session data (systemd runs it before every start);
                 --dry-run prints what it would do
  doctor         check the install without a running daemon (wactl
                 doctor runs it when wad does not answer); --user NAME,
                 --json; exit 1 when a check failed
  delegate       --user USER: hand the service's cgroup to USER where
                 systemd does not (cgroup v1; systemd runs it as root
                 before every start); on cgroup v2 it only checks that
                 Delegate=yes did; never fails the start
  version        print the version

Without --config, wad runs on embedded defaults: the socket in
$XDG_RUNTIME_DIR/wad/wad.sock and the state in $XDG_STATE_HOME/wad
(under systemd, $RUNTIME_DIRECTORY and $STATE_DIRECTORY).
`)
}

func run(args []string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("wad "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { usage(stderr) }
	config := fs.String("config", "", "configuration `FILE` (TOML)")
	dryRun := false
	if cmd == "reap" {
		fs.BoolVar(&dryRun, "dry-run", false, "print what would be done, change nothing")
	}
	userName, asJSON := "", false
	switch cmd {
	case "delegate":
		fs.StringVar(&userName, "user", "", "the service `USER` (and its group) to hand the cgroup to")
	case "doctor":
		fs.StringVar(&userName, "user", "", "the `USER` wad runs as (default: wad when run as root and that user exists, else the caller)")
		fs.BoolVar(&asJSON, "json", false, "print {findings, ok} as JSON")
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see wad --help)", fs.Arg(0))
	}
	switch cmd {
	case "serve":
		return daemon.Run(*config, version, stderr)
	case "check-config":
		cfg, err := daemon.LoadConfig(*config)
		if err != nil {
			return err
		}
		warnings, err := daemon.CheckConfig(cfg)
		if err != nil {
			return err
		}
		for _, w := range warnings {
			fmt.Fprintln(stdout, "warning:", w)
		}
		name := *config
		if name == "" {
			name = "embedded defaults"
		}
		fmt.Fprintf(stdout, "%s: ok (socket %s, state_dir %s)\n", name, cfg.Socket, cfg.StateDir)
		return nil
	case "reap":
		cfg, err := daemon.LoadConfig(*config)
		if err != nil {
			return err
		}
		level := new(slog.LevelVar)
		l, _ := daemon.ParseLevel(cfg.LogLevel)
		level.Set(l)
		_, err = reaper.Run(context.Background(), reaper.Options{
			StateDir: cfg.StateDir,
			Config:   cfg.Reaper,
			DryRun:   dryRun,
			Log:      daemon.NewLogger(stderr, level),
			Out:      stdout,
		})
		return err
	case "doctor":
		return doctorCmd(*config, userName, asJSON, stdout)
	case "delegate":
		uid, gid, err := lookupUser(userName)
		if err != nil {
			return err
		}
		msg, err := cgroup.Handover(uid, gid)
		if msg != "" {
			fmt.Fprintln(stdout, "wad delegate:", msg)
		}
		if err != nil {
			// The daemon starts anyway, without per-browser limits.
			fmt.Fprintln(stdout, "wad delegate: notice:", err)
		}
		return nil
	case "version":
		fmt.Fprintln(stdout, "wad", version)
		return nil
	case "help":
		usage(stdout)
		return nil
	}
	return fmt.Errorf("unknown command %q (see wad --help)", cmd)
}

// lookupUser resolves a user name or numeric uid to its uid and primary
// gid.
func lookupUser(name string) (uid, gid int, err error) {
	if name == "" {
		return 0, 0, fmt.Errorf("delegate needs --user USER")
	}
	u, err := user.Lookup(name)
	if err != nil {
		if _, nerr := strconv.Atoi(name); nerr != nil {
			return 0, 0, err
		}
		if u, err = user.LookupId(name); err != nil {
			return 0, 0, err
		}
	}
	if uid, err = strconv.Atoi(u.Uid); err != nil {
		return 0, 0, fmt.Errorf("user %s: uid %q", name, u.Uid)
	}
	if gid, err = strconv.Atoi(u.Gid); err != nil {
		return 0, 0, fmt.Errorf("user %s: gid %q", name, u.Gid)
	}
	return uid, gid, nil
}
