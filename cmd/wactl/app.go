package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mdp/qrterminal/v3"

	"github.com/wad-project/wad/ctl"
)

// app holds one invocation's global flags and streams.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	socket         string
	json           bool
	client         *ctl.Client
}

// command is one wactl subcommand.
type command struct {
	name, args, help string
	// long, if set, is printed by `wactl COMMAND --help` between the
	// synopsis and the flags.
	long  string
	flags func(fs *flag.FlagSet) func(a *app, ctx context.Context, args []string) error
	nargs [2]int // min, max (-1: any)
	// choices are the values a positional argument takes (by its
	// position, 1 for the first), for the completions.
	choices map[int][]string
	hidden  bool // not in help or completions
}

// usageError is an error in how a command was called that only shows
// once its flags are read (a flag without the one it qualifies, a
// malformed value): wactl prints it with the command's synopsis and
// exits 2, as for a wrong number of arguments.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// commands is the command tree (also the source of the shell
// completions).
func commands() []command {
	return append(append([]command{
		{name: "status", args: "[CLIENT]", help: "show the daemon and its sessions, or one session", nargs: [2]int{0, 1},
			flags: func(*flag.FlagSet) func(*app, context.Context, []string) error { return (*app).status }},
		{name: "login", args: "CLIENT", help: "log a client in: shows the QR code (or pairing code) until connected", nargs: [2]int{1, 1},
			flags: func(fs *flag.FlagSet) func(*app, context.Context, []string) error {
				backend := fs.String("backend", "", "session `BACKEND`: whatsmeow or chromedp (default: the daemon's default)")
				phone := fs.String("phone", "", "link by pairing code for this `+E164` number instead of a QR code")
				timeout := fs.Duration("timeout", 5*time.Minute, "give up after `DURATION` without a connection")
				noWait := fs.Bool("no-wait", false, "print the login state and exit instead of waiting for the connection")
				return func(a *app, ctx context.Context, args []string) error {
					return a.login(ctx, ctl.LoginParams{Client: args[0], Backend: *backend, Phone: *phone}, *timeout, !*noWait)
				}
			}},
		{name: "logout", args: "CLIENT", help: "unlink a client's device and delete its session", nargs: [2]int{1, 1},
			flags: func(*flag.FlagSet) func(*app, context.Context, []string) error { return (*app).logout }},
		{name: "stop", args: "CLIENT", help: "stop a client's session, keeping its login", nargs: [2]int{1, 1},
			flags: func(*flag.FlagSet) func(*app, context.Context, []string) error { return (*app).stop }},
		{name: "send", args: "CLIENT TO [TEXT|-]", help: "send a text, file, location or contact to TO (+E164 number or JID)", nargs: [2]int{2, 3},
			long: sendHelp, flags: sendFlags},
		{name: "react", args: "CLIENT CHAT ID EMOJI", help: "react to message ID with EMOJI (\"\" removes the reaction)", nargs: [2]int{4, 4},
			flags: queuedFlags((*app).react)},
		{name: "edit", args: "CLIENT CHAT ID TEXT|-", help: "replace the text of message ID, sent by this account (- reads it from stdin)", nargs: [2]int{4, 4},
			flags: queuedFlags((*app).edit)},
		{name: "revoke", args: "CLIENT CHAT ID", help: "delete message ID for everyone", nargs: [2]int{3, 3},
			flags: queuedFlags((*app).revoke)},
		{name: "message status", args: "CLIENT ID", help: "show where message ID is: queued, sent, delivered, read, or failed and why", nargs: [2]int{2, 2},
			flags: func(*flag.FlagSet) func(*app, context.Context, []string) error { return (*app).messageStatus }},
		{name: "read", args: "CLIENT CHAT [ID...]", help: "mark messages of CHAT read (without IDs: every unread one)", nargs: [2]int{2, -1},
			flags: func(*flag.FlagSet) func(*app, context.Context, []string) error { return (*app).read }},
		{name: "presence", args: "CLIENT CHAT [STATE]", help: "show CHAT this account is typing (STATE typing, the default), recording or paused", nargs: [2]int{2, 3},
			choices: map[int][]string{3: {ctl.PresenceTyping, ctl.PresenceRecording, ctl.PresencePaused}},
			flags:   func(*flag.FlagSet) func(*app, context.Context, []string) error { return (*app).presence }},
		{name: "download", args: "CLIENT CHAT ID", help: "save the media of message ID (to the name it was sent with, or -o FILE)", nargs: [2]int{3, 3},
			long: downloadHelp, flags: downloadFlags},
	}, socialCommands()...), []command{
		{name: "watch", args: "[CLIENT]", help: "print events (sessions, messages, receipts, groups, presence, calls, ...) as they happen", nargs: [2]int{0, 1},
			long: watchHelp, flags: watchFlags},
		{name: "webhooks", help: "show the webhooks' delivery state (--dead-letters: the events they gave up on)", nargs: [2]int{0, 0},
			long: webhooksHelp, flags: func(fs *flag.FlagSet) func(*app, context.Context, []string) error {
				dead := fs.Bool("dead-letters", false, "list the dead letters of each webhook: the events it gave up on after max_attempts")
				return func(a *app, ctx context.Context, args []string) error { return a.webhooks(ctx, *dead) }
			}},
		{name: "webhooks retry", args: "NAME [SEQ]", help: "deliver webhook NAME's dead letters again (only SEQ's, if given)", nargs: [2]int{1, 2},
			long: webhookRetryHelp, flags: func(*flag.FlagSet) func(*app, context.Context, []string) error { return (*app).webhookRetry }},
		{name: "doctor", help: "check the daemon, its install and its sessions; each problem with its fix (exit 1 if any)", nargs: [2]int{0, 0},
			long: doctorHelp, flags: doctorFlags},
		{name: "schema", help: "print the OpenRPC document of the daemon's API (rpc.discover)", nargs: [2]int{0, 0},
			long: schemaHelp, flags: schemaFlags},
		{name: "version", help: "print wactl's and the daemon's versions", nargs: [2]int{0, 0},
			flags: func(*flag.FlagSet) func(*app, context.Context, []string) error { return (*app).version }},
		{name: "completion", args: "SHELL", help: "print a completion script for bash, zsh or fish", nargs: [2]int{1, 1},
			choices: map[int][]string{1: {"bash", "zsh", "fish"}},
			flags:   func(*flag.FlagSet) func(*app, context.Context, []string) error { return (*app).completion }},
		{name: "__clients", help: "list client ids (for completion)", nargs: [2]int{0, 0}, hidden: true,
			flags: func(*flag.FlagSet) func(*app, context.Context, []string) error { return (*app).clients }},
	}...)
}

// findCommand returns the command args start with: a two-word command
// ("group list") before a one-word one ("profile" for `profile CLIENT`,
// `profile set CLIENT` being another command), and how many words
// named it. A client id that is also a subcommand's name goes after
// "--" (wactl profile -- set).
func findCommand(args []string) (*command, int) {
	cmds := commands()
	for n := min(2, len(args)); n >= 1; n-- {
		name := strings.Join(args[:n], " ")
		for _, c := range cmds {
			if c.name == name {
				return &c, n
			}
		}
	}
	return nil, 0
}

// subcommands returns the commands whose name starts with word and a
// space ("group" has list, info, ...).
func subcommands(word string) []command {
	var out []command
	for _, c := range commands() {
		if strings.HasPrefix(c.name, word+" ") && !c.hidden {
			out = append(out, c)
		}
	}
	return out
}

// subUsage lists the subcommands of word.
func subUsage(w io.Writer, word string, subs []command) {
	fmt.Fprintf(w, "usage: wactl %s SUBCOMMAND [ARGS]\n\nsubcommands:\n", word)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range subs {
		fmt.Fprintf(tw, "  %s %s\t%s\n", c.name, c.args, c.help)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nRun `wactl %s SUBCOMMAND --help` for a subcommand's flags.\n", word)
}

func (a *app) usage(w io.Writer) {
	fmt.Fprintf(w, "usage: wactl [--socket PATH] [--json] COMMAND [ARGS]\n\ncommands:\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range commands() {
		if !c.hidden {
			fmt.Fprintf(tw, "  %s %s\t%s\n", c.name, c.args, c.help)
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "\nThe socket is --socket, else $WAD_SOCKET, else %s or %s.\nRun `wactl COMMAND --help` for a command's flags.\n", ctl.UserSocket(), ctl.SystemSocket)
	fmt.Fprintf(w, "Exit status: 0 done, 1 failed, 2 usage error, 3 partly done (WhatsApp refused\nsome group participants; a long check interrupted).\n")
}

func (a *app) globalFlags(fs *flag.FlagSet) {
	fs.StringVar(&a.socket, "socket", a.socket, "daemon socket `PATH` (default $WAD_SOCKET or the standard paths)")
	fs.BoolVar(&a.json, "json", a.json, "print machine-readable JSON")
}

func (a *app) main(ctx context.Context, args []string) int {
	gfs := flag.NewFlagSet("wactl", flag.ContinueOnError)
	gfs.SetOutput(io.Discard)
	a.globalFlags(gfs)
	if err := gfs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			a.usage(a.stdout)
			return 0
		}
		fmt.Fprintf(a.stderr, "wactl: %v\n", err)
		a.usage(a.stderr)
		return 2
	}
	args = gfs.Args()
	if len(args) == 0 {
		a.usage(a.stderr)
		return 2
	}
	if args[0] == "help" {
		a.usage(a.stdout)
		return 0
	}
	cmd, words := findCommand(args)
	if cmd == nil {
		if subs := subcommands(args[0]); len(subs) > 0 {
			if len(args) > 1 && (args[1] == "--help" || args[1] == "-help" || args[1] == "-h" || args[1] == "help") {
				subUsage(a.stderr, args[0], subs)
				return 0
			}
			if len(args) > 1 && !strings.HasPrefix(args[1], "-") {
				fmt.Fprintf(a.stderr, "wactl: unknown command \"%s %s\"\n", args[0], args[1])
			} else {
				fmt.Fprintf(a.stderr, "wactl: %s needs a subcommand\n", args[0])
			}
			subUsage(a.stderr, args[0], subs)
			return 2
		}
		fmt.Fprintf(a.stderr, "wactl: unknown command %q\n", args[0])
		a.usage(a.stderr)
		return 2
	}
	fs := flag.NewFlagSet("wactl "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	a.globalFlags(fs)
	fn := cmd.flags(fs)
	// The flag package prints a bad flag's error; the full help is for
	// --help, a bad flag gets the synopsis.
	fs.Usage = func() {}
	if err := fs.Parse(interleave(fs, args[words:])); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(a.stderr, "usage: wactl %s %s\n  %s\n", cmd.name, cmd.args, cmd.help)
			if cmd.long != "" {
				fmt.Fprintf(a.stderr, "\n%s", cmd.long)
			}
			if subs := subcommands(cmd.name); len(subs) > 0 {
				fmt.Fprintf(a.stderr, "\nsee also:\n")
				for _, c := range subs {
					fmt.Fprintf(a.stderr, "  wactl %s %s\n", c.name, c.args)
				}
			}
			fmt.Fprintf(a.stderr, "\nflags:\n")
			fs.PrintDefaults()
			return 0
		}
		fmt.Fprintf(a.stderr, "usage: wactl %s %s (wactl %s --help for more)\n", cmd.name, cmd.args, cmd.name)
		return 2
	}
	rest := fs.Args()
	if len(rest) < cmd.nargs[0] || (cmd.nargs[1] >= 0 && len(rest) > cmd.nargs[1]) {
		fmt.Fprintf(a.stderr, "wactl: %s takes %s\nusage: wactl %s %s\n", cmd.name, argsWord(cmd), cmd.name, cmd.args)
		return 2
	}
	a.client = &ctl.Client{Socket: a.socket}
	defer a.client.Close()
	if err := fn(a, ctx, rest); err != nil {
		var ue *usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(a.stderr, "wactl: %s: %s\nusage: wactl %s %s (wactl %s --help for more)\n", cmd.name, ue.msg, cmd.name, cmd.args, cmd.name)
			return 2
		}
		fmt.Fprintf(a.stderr, "wactl: %s\n", describe(err))
		var pe *partialError
		if errors.As(err, &pe) {
			return 3
		}
		return 1
	}
	return 0
}

func argsWord(c *command) string {
	if c.args == "" {
		return "no arguments"
	}
	return c.args
}

// interleave moves flags after positional arguments to the front, so
// `wactl login sales --phone +49...` works like `wactl login --phone ...
// sales`. "--" ends flag parsing as usual.
func interleave(fs *flag.FlagSet, args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		s := args[i]
		if s == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(s) > 1 && s[0] == '-' && s != "-" {
			flags = append(flags, s)
			name := strings.TrimLeft(s, "-")
			if strings.Contains(name, "=") {
				continue
			}
			if f := fs.Lookup(name); f != nil {
				if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
					continue
				}
				if i+1 < len(args) {
					i++
					flags = append(flags, args[i])
				}
			}
			continue
		}
		pos = append(pos, s)
	}
	return append(append(flags, "--"), pos...)
}

// describe turns an error into one line for the user.
func describe(err error) string {
	var ce *ctl.Error
	if errors.As(err, &ce) {
		return fmt.Sprintf("%s (error %d)", ce.Message, ce.Code)
	}
	return err.Error()
}

func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (a *app) status(ctx context.Context, args []string) error {
	if len(args) == 1 {
		s, err := a.client.Session(ctx, args[0])
		if err != nil {
			return err
		}
		if a.json {
			return a.printJSON(s)
		}
		a.printSession(*s)
		return nil
	}
	st, err := a.client.Status(ctx)
	if err != nil {
		return err
	}
	list, err := a.client.List(ctx)
	if err != nil {
		return err
	}
	if a.json {
		return a.printJSON(struct {
			*ctl.StatusResult
			List []ctl.Session `json:"session_list"`
		}{st, list})
	}
	fmt.Fprintf(a.stdout, "wad %s, pid %d, up %s, socket %s\n", st.Version, st.PID, (time.Duration(st.Uptime * float64(time.Second))).Round(time.Second), st.Socket)
	a.printEventLog(st)
	if len(list) == 0 {
		fmt.Fprintln(a.stdout, "no sessions (start one with `wactl login CLIENT`)")
		return nil
	}
	a.printTable(list)
	return nil
}

func (a *app) printTable(list []ctl.Session) {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLIENT\tBACKEND\tSTATE\tSINCE\tMEMORY\tDETAIL")
	for _, s := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Client, s.Backend, s.State, since(s.Since), memory(s), detail(s))
	}
	tw.Flush()
}

// memory is a session's memory for the table: exact from its cgroup when
// it has one, else the resident memory of its processes, else "-".
func memory(s ctl.Session) string {
	switch {
	case s.MemoryBytes > 0:
		return mebibytes(s.MemoryBytes)
	case s.RSSBytes > 0:
		return mebibytes(s.RSSBytes)
	}
	return "-"
}

// mebibytes renders a memory size in binary units ("312.4 MiB", "1.5 GiB").
func mebibytes(n int64) string {
	if n >= 1<<30 {
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

func since(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func detail(s ctl.Session) string {
	var parts []string
	if s.JID != "" {
		d := s.JID
		if s.PushName != "" {
			d += " (" + s.PushName + ")"
		}
		parts = append(parts, d)
	}
	if s.PairCode != "" {
		parts = append(parts, "pairing code "+s.PairCode)
	}
	if s.Reason != "" {
		r := s.Reason
		if s.Message != "" {
			r += ": " + s.Message
		}
		parts = append(parts, r)
	}
	if s.State == ctl.StateQR {
		parts = append(parts, "waiting for QR scan (wactl login "+s.Client+")")
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, "; ")
}

func (a *app) printSession(s ctl.Session) {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, v)
		}
	}
	row("client", s.Client)
	row("backend", s.Backend)
	row("state", string(s.State))
	row("since", since(s.Since))
	row("reason", s.Reason)
	row("message", s.Message)
	row("jid", s.JID)
	row("push name", s.PushName)
	row("pairing code", s.PairCode)
	if s.PID != 0 {
		row("pid", fmt.Sprint(s.PID))
	}
	if s.RSSBytes != 0 {
		row("rss", mebibytes(s.RSSBytes))
	}
	if s.MemoryBytes != 0 {
		m := mebibytes(s.MemoryBytes) + " (cgroup)"
		if s.MemoryMax > 0 {
			m = mebibytes(s.MemoryBytes) + " of " + mebibytes(s.MemoryMax) + " (cgroup)"
		}
		row("memory", m)
	}
	if s.CPUSeconds != 0 {
		row("cpu", fmt.Sprintf("%.1fs", s.CPUSeconds))
	}
	if s.Procs != 0 {
		row("processes", fmt.Sprint(s.Procs))
	}
	tw.Flush()
}

func (a *app) logout(ctx context.Context, args []string) error {
	s, err := a.client.Logout(ctx, args[0])
	if err != nil {
		return err
	}
	if a.json {
		return a.printJSON(s)
	}
	fmt.Fprintf(a.stdout, "%s: logged out\n", s.Client)
	return nil
}

func (a *app) stop(ctx context.Context, args []string) error {
	s, err := a.client.Stop(ctx, args[0])
	if err != nil {
		return err
	}
	if a.json {
		return a.printJSON(s)
	}
	fmt.Fprintf(a.stdout, "%s: %s (the login is kept; `wactl login %s` resumes it)\n", s.Client, s.State, s.Client)
	return nil
}

func (a *app) version(ctx context.Context, _ []string) error {
	v, err := a.client.Version(ctx)
	if a.json {
		out := map[string]any{"wactl": version}
		if err == nil {
			out["daemon"] = v
		}
		if perr := a.printJSON(out); perr != nil {
			return perr
		}
		return err
	}
	fmt.Fprintf(a.stdout, "wactl %s\n", version)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "wad %s (%s; backends: %s)\n", v.Version, v.GoVersion, strings.Join(v.Backends, ", "))
	return nil
}

// login starts a login and, when wait is set, shows the QR code (redrawn
// on every rotation) or the pairing code until the session connects,
// fails, or the timeout passes.
func (a *app) login(ctx context.Context, p ctl.LoginParams, timeout time.Duration, wait bool) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var w *ctl.Watcher
	if wait {
		// Subscribe first so no QR rotation or state change is missed.
		var err error
		w, err = a.client.Watch(ctx, ctl.SubscribeParams{Clients: []string{p.Client}, Kinds: []string{ctl.KindState, ctl.KindQR}})
		if err != nil {
			return err
		}
		defer w.Close()
	}
	s, err := a.client.Login(ctx, p)
	if err != nil {
		return err
	}
	if !wait {
		if a.json {
			return a.printJSON(s)
		}
		a.showLogin(*s, "")
		return nil
	}
	shownQR := ""
	for {
		if done, err := a.loginStep(*s, &shownQR); done {
			return err
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("%s: not connected after %s (state %s); run `wactl login %s` again", p.Client, timeout, s.State, p.Client)
			}
			return ctx.Err()
		case ev, ok := <-w.C:
			if !ok {
				return errors.New("the daemon closed the connection")
			}
			if ev.Session != nil {
				s = ev.Session
			}
			if ev.Kind == ctl.KindQR && ev.QR != "" {
				s.State, s.QR = ctl.StateQR, ev.QR
			}
		}
	}
}

// loginStep shows s and reports whether the login is over (and how).
func (a *app) loginStep(s ctl.Session, shownQR *string) (bool, error) {
	switch s.State {
	case ctl.StateConnected:
		if a.json {
			return true, a.printJSON(s)
		}
		who := s.JID
		if s.PushName != "" {
			who += " (" + s.PushName + ")"
		}
		fmt.Fprintf(a.stdout, "%s: connected as %s\n", s.Client, who)
		return true, nil
	case ctl.StateFailed, ctl.StateLoggedOut, ctl.StateStopped:
		if a.json {
			_ = a.printJSON(s)
		}
		msg := fmt.Sprintf("%s: login ended: %s", s.Client, s.State)
		if s.Reason != "" {
			msg += " (" + s.Reason + ")"
		}
		if s.Message != "" {
			msg += ": " + s.Message
		}
		return true, errors.New(msg)
	case ctl.StateQR:
		if s.QR != "" && s.QR != *shownQR {
			*shownQR = s.QR
			if a.json {
				_ = a.printJSON(s)
			} else {
				a.showLogin(s, "")
			}
		}
	case ctl.StatePairing:
		if s.PairCode != "" && s.PairCode != *shownQR {
			*shownQR = s.PairCode
			if a.json {
				_ = a.printJSON(s)
			} else {
				a.showLogin(s, "")
			}
		}
	}
	return false, nil
}

func (a *app) showLogin(s ctl.Session, _ string) {
	switch s.State {
	case ctl.StateQR:
		if f, ok := a.stdout.(*os.File); ok && isTerminal(f) {
			fmt.Fprint(a.stdout, "\033[2J\033[H") // redraw in place
		}
		fmt.Fprintf(a.stdout, "%s: scan this QR code with WhatsApp (Settings > Linked devices > Link a device):\n", s.Client)
		qrterminal.GenerateWithConfig(s.QR, qrterminal.Config{
			Level:          qrterminal.L,
			Writer:         a.stdout,
			HalfBlocks:     true,
			BlackChar:      qrterminal.BLACK_BLACK,
			WhiteBlackChar: qrterminal.WHITE_BLACK,
			WhiteChar:      qrterminal.WHITE_WHITE,
			BlackWhiteChar: qrterminal.BLACK_WHITE,
			QuietZone:      2,
		})
	case ctl.StatePairing:
		fmt.Fprintf(a.stdout, "%s: on the phone, open WhatsApp > Linked devices > Link with phone number, and enter: %s\n", s.Client, s.PairCode)
	default:
		fmt.Fprintf(a.stdout, "%s: %s %s\n", s.Client, s.State, detail(s))
	}
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
