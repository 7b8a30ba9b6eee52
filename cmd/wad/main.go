// Command wad is the WhatsApp session daemon. See README.md.
//
//	wad [serve] [--config FILE]     run the daemon in the foreground
//	wad check-config [--config FILE] validate the config and exit
//	wad version                      print the version
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/wad-project/wad/daemon"
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
		if err := daemon.CheckConfig(cfg); err != nil {
			return err
		}
		name := *config
		if name == "" {
			name = "embedded defaults"
		}
		fmt.Fprintf(stdout, "%s: ok (socket %s, state_dir %s)\n", name, cfg.Socket, cfg.StateDir)
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
