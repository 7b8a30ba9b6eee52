package daemon_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wad-project/wad/daemon"
	"github.com/wad-project/wad/daemon/daemontest"
	"github.com/wad-project/wad/internal/syncbuf"
	"github.com/wad-project/wad/sessions/chromedp"
)

// Prevents: a daemon without a delegated cgroup subtree (a developer's
// make run) refusing to start, staying silent about limits it cannot
// enforce, or repeating it; and a daemon with cgroups = "off" probing
// cgroups at all.
func TestLimitsOffWithoutDelegationSaidOnce(t *testing.T) {
	t.Setenv("INVOCATION_ID", "") // not a systemd service: never delegated
	for _, tc := range []struct {
		name      string
		cgroups   string
		memoryMax string
		off, warn int // how often each line must appear
	}{
		{"auto without limits", chromedp.CgroupsAuto, "", 1, 0},
		{"auto with limits", "", "768M", 1, 1},
		{"off", chromedp.CgroupsOff, "768M", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs syncbuf.Buffer
			d := daemontest.Start(t, daemontest.Options{
				Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
				Config: func(c *daemon.Config) {
					c.Chromedp.Cgroups, c.Chromedp.MemoryMax = tc.cgroups, tc.memoryMax
				},
			})
			d.Stop()
			out := logs.String()
			off := strings.Count(out, `level=INFO msg="per-browser limits are off: no delegated cgroup subtree: not started by systemd as a service`)
			warn := strings.Count(out, "level=WARN msg=\"[chromedp] memory_max, memory_high and cpu_max are not enforced")
			if off != tc.off || warn != tc.warn || strings.Count(out, "per-browser limits are off") != tc.off {
				t.Errorf("log says limits are off %d times and warns %d times, want %d and %d:\n%s", off, warn, tc.off, tc.warn, out)
			}
			if strings.Contains(out, "browsers get cgroups") {
				t.Errorf("log claims browsers get cgroups:\n%s", out)
			}
		})
	}
}

// Prevents: a limit that does not parse passing validation (the daemon
// would start and every browser would fail), and errors that leave the
// operator guessing which key of which table is wrong.
func TestConfigLimitsNameTheKey(t *testing.T) {
	for body, want := range map[string]string{
		"[chromedp]\ncgroups = \"yes\"":                    `chromedp.cgroups: "yes" is not one of auto, off`,
		"[chromedp]\nmemory_max = \"1GB\"":                 `chromedp.memory_max "1GB"`,
		"[chromedp]\ncpu_max = \"lots\"":                   `chromedp.cpu_max "lots"`,
		"[chromedp.clients.sales]\nmemory_high = \"12\"":   `chromedp.clients.sales.memory_high "12"`,
		"[chromedp.clients.sales]\ncpu_max = \"0%\"":       `chromedp.clients.sales.cpu_max "0%"`,
		"[chromedp.clients.not-yet-seen]\ncpu_max = \"1\"": "",
		"[chromedp]\nmemory_max = \"1G\"\nmemory_high = \"768M\"\ncpu_max = \"150%\"\n[chromedp.clients.big]\nmemory_max = \"4G\"": "",
	} {
		p := filepath.Join(t.TempDir(), "wad.toml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := daemon.LoadConfig(p)
		switch {
		case want == "" && err != nil:
			t.Errorf("config %q: unexpected error %v", body, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("config %q: got %v, want an error mentioning %q", body, err, want)
		}
	}
}
