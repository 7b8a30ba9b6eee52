package chromedp

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"github.com/chromedp/chromedp"
)

// baseFlags are the Chromium flags of every launch: a quiet, stable
// server browser. No --single-process (it breaks crash isolation and
// profile locking); the GPU is off; nothing phones home on its own.
var baseFlags = []struct {
	name  string
	value any
}{
	{"no-first-run", true},
	{"no-default-browser-check", true},
	{"disable-background-networking", true},
	{"disable-component-update", true},
	{"disable-default-apps", true},
	{"disable-extensions", true},
	{"disable-sync", true},
	{"disable-breakpad", true},
	{"disable-gpu", true},
	{"disable-dev-shm-usage", true},
	{"disable-features", "Translate,MediaRouter,OptimizationHints,InterestFeedContentSuggestions,CalculateNativeWinOcclusion"},
	{"disable-blink-features", "AutomationControlled"},
	{"disable-hang-monitor", true},
	{"disable-popup-blocking", true},
	{"disable-prompt-on-repost", true},
	{"disable-client-side-phishing-detection", true},
	{"disable-domain-reliability", true},
	{"disable-background-timer-throttling", true},
	{"disable-backgrounding-occluded-windows", true},
	{"disable-renderer-backgrounding", true},
	{"disable-ipc-flooding-protection", true},
	{"no-pings", true},
	{"metrics-recording-only", true},
	{"safebrowsing-disable-auto-update", true},
	{"password-store", "basic"},
	{"use-mock-keychain", true},
	{"window-size", "1280,900"},
}

// cgroupStart is how a browser gets into its cgroup before it runs any
// code of its own: cloned into it (fd >= 0: cgroup v2 where clone3 is
// allowed), or started through /bin/sh, which writes "0" into each of
// join (the group's cgroup.procs files: the writer joins the group) and
// then execs the browser (v1, and v2 under wad.service, whose
// RestrictNamespaces= filters clone3). With strict (limits apply) a
// write that fails ends the start with joinFailed on stderr; without,
// the browser starts where it is.
type cgroupStart struct {
	fd     int
	join   []string
	strict bool
}

// noCgroup starts the browser in the daemon's cgroup.
var noCgroup = cgroupStart{fd: -1}

// joinShell runs joinScript.
const joinShell = "/bin/sh"

// joinFailed begins the line joinScript prints when it cannot join the
// group with strict set.
const joinFailed = "wad: cannot join the browser's cgroup"

// joinScript is run as `sh -c joinScript wad-cgroup-join STRICT FILE...
// -- BROWSER ARGS...`.
const joinScript = `strict=$1; shift
while [ "$1" != -- ]; do
	if ! echo 0 >"$1" && [ "$strict" = 1 ]; then
		echo "` + joinFailed + ` ($1)" >&2
		exit 126
	fi
	shift
done
shift
exec "$@"`

// wrap makes cmd join the group before it execs the browser (see
// cgroupStart).
func (cs cgroupStart) wrap(cmd *exec.Cmd) {
	if cs.fd >= 0 {
		if cmd.SysProcAttr == nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{}
		}
		cmd.SysProcAttr.UseCgroupFD = true
		cmd.SysProcAttr.CgroupFD = cs.fd
		return
	}
	if len(cs.join) == 0 {
		return
	}
	strict := "0"
	if cs.strict {
		strict = "1"
	}
	args := append([]string{joinShell, "-c", joinScript, "wad-cgroup-join", strict}, cs.join...)
	args = append(args, "--", cmd.Path)
	cmd.Args = append(args, cmd.Args[1:]...)
	cmd.Path = joinShell
}

// allocatorOptions returns the chromedp allocator options of one launch
// on profile; cg says how the browser starts in its cgroup.
func (c Config) allocatorOptions(path, profile string, cg cgroupStart, log *slog.Logger) []chromedp.ExecAllocatorOption {
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(profile),
	}
	if c.headless() {
		opts = append(opts, chromedp.Headless)
	}
	for _, f := range baseFlags {
		opts = append(opts, chromedp.Flag(f.name, f.value))
	}
	if os.Geteuid() == 0 {
		// Chromium refuses to run as root with its sandbox on.
		log.Info("running as root: starting Chromium with --no-sandbox")
		opts = append(opts, chromedp.Flag("no-sandbox", true))
	} else {
		// An explicit false keeps chromedp from adding it.
		opts = append(opts, chromedp.Flag("no-sandbox", false))
	}
	for _, f := range c.Flags {
		name, v := splitFlag(f)
		if v == nil {
			opts = append(opts, chromedp.Flag(name, true))
		} else {
			opts = append(opts, chromedp.Flag(name, *v))
		}
	}
	// This replaces chromedp's default (which only sets Pdeathsig), so
	// set both: the browser gets its own process group, so that stopping
	// can kill every child, and dies with the thread that started it
	// (chromedp keeps that thread locked for the browser's lifetime).
	// With a cgroup it starts inside it (cg.wrap), so no byte of it is
	// ever charged outside its limits.
	opts = append(opts, chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
		if cmd.SysProcAttr == nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{}
		}
		cmd.SysProcAttr.Setpgid = true
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
		cg.wrap(cmd)
	}))
	return opts
}

// headlessUA turns the user agent of headless Chromium into the one of a
// regular Chrome, which is what WhatsApp Web supports.
func headlessUA(ua string) string {
	return strings.ReplaceAll(ua, "HeadlessChrome", "Chrome")
}

// slogf adapts a logger to chromedp's printf-style hooks.
func slogf(log *slog.Logger, level slog.Level, prefix string) func(string, ...any) {
	return func(format string, args ...any) {
		log.Log(context.Background(), level, prefix+fmt.Sprintf(format, args...))
	}
}
