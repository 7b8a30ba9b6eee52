// Package doctor holds the daemon side of `wactl doctor`: the health
// checks of a wad install that only the daemon's user (or root) can make.
// Each check returns ctl.Finding values with stable check names
// (ctl.Check*) and, for what is not ok, the fix. Two callers run them:
// the running daemon, for wad.doctor (as the service user, with its
// sessions), and `wad doctor`, when the daemon is down (as root or the
// calling user, without sessions). The checks are:
//
//   - state_dir: the state directory exists, belongs to the daemon's user,
//     and is neither group/other writable nor world readable;
//   - chromium: the browser is present (a failure when chromedp is the
//     default backend or in use, else a warning) and its version;
//   - sandbox: Chromium starts headless with its sandbox on as the
//     daemon's user (not tried when that user is root, where wad starts it
//     with --no-sandbox: a warning);
//   - store: PRAGMA integrity_check of every SQLite store (wad.db and the
//     whatsmeow device store), read-only on a connection of its own, so
//     what is on disk is checked, not what a pool has cached;
//   - disk: free space where the state directory is;
//   - session: each session's state and reason, with what to do;
//   - devices: the linked devices of each connected whatsmeow session's
//     account against WhatsApp's limit of four companions.
//
// The config check is the caller's (it loads the config); Config makes
// its finding.
package doctor

import (
	"context"
	"fmt"
	"os/user"
	"strconv"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/sessions/chromedp"
)

// Options are what the checks look at.
type Options struct {
	// StateDir is the configured state directory.
	StateDir string
	// DefaultBackend is sessions.default_backend.
	DefaultBackend string
	// Chromedp is the [chromedp] table.
	Chromedp chromedp.Config
	// User is the account the daemon runs as: the state directory
	// should belong to it, and the sandbox is tried as it. Nil: the
	// calling process's own user.
	User *user.User
	// Sessions are the daemon's sessions (none when the daemon is down).
	Sessions []ctl.Session
	// Devices, if set, returns how many devices (phone included) the
	// account of a connected session has; an error skips the session.
	Devices func(ctx context.Context, s ctl.Session) (int, error)
}

// Run runs every check of the package, in order: state_dir, chromium,
// sandbox, store, disk, session, devices.
func Run(ctx context.Context, o Options) []ctl.Finding {
	o.User = o.user()
	host, chromium := Host(ctx, o)
	out := append(host[:2:2], Deep(ctx, o, chromium)...)
	out = append(out, host[2:]...)
	out = append(out, Sessions(o.Sessions)...)
	if o.Devices != nil {
		out = append(out, Devices(ctx, o.Sessions, o.Devices)...)
	}
	return out
}

// Host runs the quick checks of the host, cheap enough for every call:
// state_dir, chromium, disk, in that order. chromium is the browser's
// executable for Deep, empty when there is none.
func Host(ctx context.Context, o Options) (findings []ctl.Finding, chromium string) {
	u := o.user()
	path, f := Chromium(ctx, o.Chromedp, chromedpNeeded(o))
	return []ctl.Finding{StateDir(o.StateDir, u), f, Disk(o.StateDir)}, path
}

// Deep runs the checks that cost: Chromium started with its sandbox
// (when there is a chromium), and an integrity check reading every
// store whole; sandbox, then store.
func Deep(ctx context.Context, o Options, chromium string) []ctl.Finding {
	var out []ctl.Finding
	if chromium != "" {
		out = append(out, Sandbox(ctx, chromium, o.user()))
	}
	return append(out, Stores(ctx, o.StateDir)...)
}

// user is o.User, else the calling process's own.
func (o Options) user() *user.User {
	if o.User != nil {
		return o.User
	}
	if cur, err := user.Current(); err == nil {
		return cur
	}
	return nil
}

// Config is the config finding: ok when the configuration loaded and
// validated (source names it: a file or "embedded defaults"), else a
// failure with err.
func Config(source string, err error) ctl.Finding {
	if err != nil {
		fix := "correct the configuration; `wad check-config` names each bad key and its line"
		if source != "" && source != "embedded defaults" {
			fix = fmt.Sprintf("correct %s; `wad check-config --config %s` names each bad key and its line", source, source)
		}
		return fail(ctl.CheckConfig, "", fmt.Sprintf("%s: %v", source, err), fix)
	}
	return ok(ctl.CheckConfig, "", source+": valid")
}

func ok(check, client, msg string) ctl.Finding {
	return ctl.Finding{Check: check, Status: ctl.FindingOK, Client: client, Message: msg}
}

func warn(check, client, msg, fix string) ctl.Finding {
	return ctl.Finding{Check: check, Status: ctl.FindingWarn, Client: client, Message: msg, Fix: fix}
}

func fail(check, client, msg, fix string) ctl.Finding {
	return ctl.Finding{Check: check, Status: ctl.FindingFail, Client: client, Message: msg, Fix: fix}
}

// userName names u for messages: "wad (uid 998)".
func userName(u *user.User) string {
	if u == nil {
		return "?"
	}
	return fmt.Sprintf("%s (uid %s)", u.Username, u.Uid)
}

// ids returns u's uid and primary gid (-1 when unknown).
func ids(u *user.User) (uid, gid int) {
	uid, gid = -1, -1
	if u == nil {
		return
	}
	if n, err := strconv.Atoi(u.Uid); err == nil {
		uid = n
	}
	if n, err := strconv.Atoi(u.Gid); err == nil {
		gid = n
	}
	return
}
