package chromedp

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/wad-project/wad/ctl"
)

// Defaults of the [chromedp] table.
const (
	DefaultWebURL = "https://web.whatsapp.com/"
	// CgroupsAuto and CgroupsOff are the values of cgroups.
	CgroupsAuto = "auto"
	CgroupsOff  = "off"
)

// DefaultChromeNames are the executables looked up on PATH, in order,
// when chrome_path is empty.
var DefaultChromeNames = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// Config is the [chromedp] table of the daemon config. The zero value
// takes every default.
type Config struct {
	// ChromePath is the browser executable: a path, or a name looked up
	// on PATH. Empty: the first of DefaultChromeNames on PATH.
	ChromePath string `toml:"chrome_path"`
	// WebURL is the WhatsApp Web address. Empty: DefaultWebURL. Tests
	// point it at a fake served on loopback.
	WebURL string `toml:"web_url"`
	// Headless runs the browser without a window. Nil: true.
	Headless *bool `toml:"headless"`
	// Flags are extra Chromium command-line flags ("--lang=de",
	// "--proxy-server=..."); they override the built-in ones of the same
	// name.
	Flags []string `toml:"flags"`
	// StartTimeout is no longer used: sessions.start_timeout bounds
	// every start, of every backend. It is still accepted so that older
	// configuration files load; a non-zero value is logged as ignored.
	//
	// Deprecated: use sessions.start_timeout.
	StartTimeout time.Duration `toml:"start_timeout"`
	// QRMaxRetries is how many QR codes one login shows before the
	// session fails with reason qr_timeout and its browser is closed.
	// Zero or negative: no limit (WhatsApp Web keeps rotating codes).
	QRMaxRetries int `toml:"qr_max_retries"`
	// Cgroups is "auto" (empty means auto): when systemd delegates a
	// cgroup subtree to the daemon (Delegate=yes), every browser runs in
	// a cgroup of its own with the limits below, and session.status
	// reports its memory exactly; without one the daemon says once that
	// limits are off. "off": never touch cgroups.
	Cgroups string `toml:"cgroups"`
	// MemoryMax is each browser's hard memory limit ("1G", "768M"; empty:
	// none). Above it the kernel's OOM killer strikes inside that
	// browser's cgroup only, and its session fails with reason
	// memory_limit.
	MemoryMax string `toml:"memory_max"`
	// MemoryHigh is where the kernel starts throttling and reclaiming a
	// browser's memory (empty: none).
	MemoryHigh string `toml:"memory_high"`
	// CPUMax is the CPU time a browser may use, as a percentage of one
	// core ("150%") or a number of cores ("1.5"); empty: unlimited.
	CPUMax string `toml:"cpu_max"`
	// Clients overrides the limits per client id
	// ([chromedp.clients.<id>]).
	Clients map[string]LimitsOverride `toml:"clients"`
}

// LimitsOverride is a client's [chromedp.clients.<id>] table: the keys it
// sets replace memory_max, memory_high and cpu_max for that client.
type LimitsOverride struct {
	MemoryMax  *string `toml:"memory_max"`
	MemoryHigh *string `toml:"memory_high"`
	CPUMax     *string `toml:"cpu_max"`
}

// headless reports the effective headless setting.
func (c Config) headless() bool { return c.Headless == nil || *c.Headless }

func (c Config) webURL() string {
	if c.WebURL == "" {
		return DefaultWebURL
	}
	return c.WebURL
}

// Check reports whether the configuration can run on this host: the
// browser executable must exist and be executable, and the flags and URL
// must be well-formed. A missing browser is a ctl.CodeBackendUnavailable
// error that names every path tried. It starts nothing.
func (c Config) Check() error {
	if _, err := c.chromePath(); err != nil {
		return err
	}
	for _, f := range c.Flags {
		if !strings.HasPrefix(f, "--") || len(f) < 3 {
			return ctl.Errorf(ctl.CodeInvalidParams, "chromedp: flag %q must start with --", f)
		}
		if name, _ := splitFlag(f); forbiddenFlags[name] {
			return ctl.Errorf(ctl.CodeInvalidParams, "chromedp: flag %q is managed by wad and cannot be set in [chromedp] flags", f)
		}
	}
	u := c.webURL()
	if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
		return ctl.Errorf(ctl.CodeInvalidParams, "chromedp: web_url %q must be an http(s) URL", u)
	}
	return nil
}

// forbiddenFlags are flags wad sets itself; letting the config change
// them would break the one-profile-per-client guarantee or the pipe to
// the browser.
var forbiddenFlags = map[string]bool{
	"user-data-dir":            true,
	"remote-debugging-pipe":    true,
	"remote-debugging-port":    true,
	"single-process":           true,
	"remote-debugging-address": true,
}

// chromePath resolves the browser executable, or returns a
// CodeBackendUnavailable error naming what was tried.
func (c Config) chromePath() (string, error) {
	if c.ChromePath != "" {
		p := c.ChromePath
		if !strings.Contains(p, "/") {
			lp, err := exec.LookPath(p)
			if err != nil {
				return "", ctl.Errorf(ctl.CodeBackendUnavailable,
					"chromedp: Chromium not found: chrome_path %q is not on PATH (%s)", p, os.Getenv("PATH"))
			}
			return lp, nil
		}
		if err := executable(p); err != nil {
			return "", ctl.Errorf(ctl.CodeBackendUnavailable, "chromedp: Chromium not found at chrome_path %q: %v", p, err)
		}
		return p, nil
	}
	for _, name := range DefaultChromeNames {
		if lp, err := exec.LookPath(name); err == nil {
			return lp, nil
		}
	}
	return "", ctl.Errorf(ctl.CodeBackendUnavailable,
		"chromedp: Chromium not found: none of %s is on PATH (%s); install chromium or set chrome_path",
		strings.Join(DefaultChromeNames, ", "), os.Getenv("PATH"))
}

func executable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return errors.New("no such file")
		}
		return err
	}
	if fi.IsDir() {
		return errors.New("is a directory")
	}
	if fi.Mode()&0o111 == 0 {
		return errors.New("not executable")
	}
	return nil
}

// splitFlag splits "--name=value" into name and value ("" and ok=false
// for a bare "--name").
func splitFlag(f string) (name string, value *string) {
	f = strings.TrimPrefix(f, "--")
	if i := strings.IndexByte(f, '='); i >= 0 {
		v := f[i+1:]
		return f[:i], &v
	}
	return f, nil
}

// ProfileDir returns the Chrome profile of client under stateDir (the
// whatsapp-web.js LocalAuth layout).
func ProfileDir(stateDir, client string) string {
	return filepath.Join(AuthDir(stateDir), "session-"+client)
}

// AuthDir returns <state>/.wwebjs_auth.
func AuthDir(stateDir string) string { return filepath.Join(stateDir, ".wwebjs_auth") }

func (c Config) String() string {
	return fmt.Sprintf("chrome_path=%q web_url=%q headless=%v cgroups=%q memory_max=%q memory_high=%q cpu_max=%q clients=%d",
		c.ChromePath, c.webURL(), c.headless(), c.Cgroups, c.MemoryMax, c.MemoryHigh, c.CPUMax, len(c.Clients))
}
