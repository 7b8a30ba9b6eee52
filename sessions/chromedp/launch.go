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

// allocatorOptions returns the chromedp allocator options of one launch
// on profile. cgroupFD, unless negative, is the directory of the cgroup
// (v2) the browser starts in.
func (c Config) allocatorOptions(path, profile string, cgroupFD int, log *slog.Logger) []chromedp.ExecAllocatorOption {
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
	// With a cgroup (v2) it is cloned straight into it, so no byte of it
	// is ever charged outside its limits.
	opts = append(opts, chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
		if cmd.SysProcAttr == nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{}
		}
		cmd.SysProcAttr.Setpgid = true
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
		if cgroupFD >= 0 {
			cmd.SysProcAttr.UseCgroupFD = true
			cmd.SysProcAttr.CgroupFD = cgroupFD
		}
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
