package daemon

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "wad.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigUnknownKeyNamesKeyAndLine(t *testing.T) {
	p := writeConfig(t, `socket = "/run/wad/wad.sock"
state_dir = "/var/lib/wad"

[sessions]
max_sessions = 4
start_timout = "30s"
`)
	_, err := LoadConfig(p)
	if err == nil || !strings.Contains(err.Error(), `wad.toml:6: unknown key "sessions.start_timout"`) {
		t.Fatalf("got %v", err)
	}
	p = writeConfig(t, "[session]\nmax_sessions = 1\n")
	if _, err := LoadConfig(p); err == nil || !strings.Contains(err.Error(), `:1: unknown key "session"`) && !strings.Contains(err.Error(), `:2: unknown key "session.max_sessions"`) {
		t.Fatalf("unknown table: %v", err)
	}
}

func TestConfigValuesAreChecked(t *testing.T) {
	for body, want := range map[string]string{
		`socket = "relative.sock"`:                     "not an absolute path",
		`state_dir = "/"`:                              "must not be /",
		`log_level = "loud"`:                           "log_level",
		"[sessions]\ndefault_backend = \"selenium\"":   "unknown backend",
		"[sessions]\nmax_sessions = -1":                "max_sessions",
		"[sessions]\nstart_timeout = \"soon\"":         "soon",
		`socket = "/` + strings.Repeat("s", 120) + `"`: "at most 107",
		"[[access]]\nusers = [\"0\"]\nallow = \"all\"": "allow",
		"socket = ": "wad.toml:1",
	} {
		_, err := LoadConfig(writeConfig(t, body))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("config %q: got %v, want an error mentioning %q", body, err, want)
		}
	}
}

func TestConfigFileOverridesDefaults(t *testing.T) {
	p := writeConfig(t, `socket = "/tmp/x/wad.sock"
state_dir = "/tmp/x/state"
log_level = "debug"
[sessions]
default_backend = "chromedp"
max_sessions = 7
start_timeout = "45s"
`)
	cfg, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Socket != "/tmp/x/wad.sock" || cfg.StateDir != "/tmp/x/state" || cfg.Sessions.DefaultBackend != "chromedp" ||
		cfg.Sessions.MaxSessions != 7 || cfg.Sessions.StartTimeout != 45*time.Second || cfg.MaxRequestBytes != DefaultMaxRequestBytes {
		t.Fatalf("%+v", cfg)
	}
}

func TestDefaultPathsFollowSystemdThenXDG(t *testing.T) {
	t.Setenv("RUNTIME_DIRECTORY", "")
	t.Setenv("STATE_DIRECTORY", "")
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/1234")
	t.Setenv("XDG_STATE_HOME", "/home/u/.state")
	cfg := DefaultConfig()
	if cfg.Socket != "/run/user/1234/wad/wad.sock" || cfg.StateDir != "/home/u/.state/wad" {
		t.Fatalf("XDG defaults: %s %s", cfg.Socket, cfg.StateDir)
	}
	t.Setenv("XDG_RUNTIME_DIR", "")
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("HOME", "/home/u")
	cfg = DefaultConfig()
	if cfg.Socket != filepath.Join(os.TempDir(), "wad-"+itoa(os.Getuid()), "wad.sock") || cfg.StateDir != "/home/u/.local/state/wad" {
		t.Fatalf("fallback defaults: %s %s", cfg.Socket, cfg.StateDir)
	}
	t.Setenv("RUNTIME_DIRECTORY", "/run/wad")
	t.Setenv("STATE_DIRECTORY", "/var/lib/wad:/var/lib/other")
	cfg = DefaultConfig()
	if cfg.Socket != "/run/wad/wad.sock" || cfg.StateDir != "/var/lib/wad" {
		t.Fatalf("systemd defaults: %s %s", cfg.Socket, cfg.StateDir)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
