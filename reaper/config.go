package reaper

import (
	"fmt"
	"time"
)

// Modes for Config.Mode.
const (
	// ModeReset removes .wwebjs_auth and .wwebjs_cache: every restart
	// starts from no logins. The logins a crash left in .wwebjs_auth go
	// to a quarantine first (UnlinkDir), for the daemon to unlink from
	// WhatsApp before they are deleted. It is the default.
	ModeReset = "reset"
	// ModePreserve keeps .wwebjs_auth (the logins), removes .wwebjs_cache
	// and the Singleton* locks of profiles whose browser is dead, so the
	// daemon can restore the sessions.
	ModePreserve = "preserve"
)

// DefaultKillTimeout is how long the browsers get between SIGTERM and
// SIGKILL when Config.KillTimeout is zero.
const DefaultKillTimeout = 5 * time.Second

// minKillTimeout catches `kill_timeout = 5` (TOML integers decode into a
// time.Duration as nanoseconds).
const minKillTimeout = time.Millisecond

// Config is the [reaper] table of wad's TOML configuration. The zero value
// is the default: mode "reset", kill_timeout 5s.
type Config struct {
	// Mode is "reset" (the default when empty) or "preserve".
	Mode string `toml:"mode"`
	// KillTimeout is how long the browser main processes get to exit after
	// SIGTERM before everything left of our profiles gets SIGKILL. Zero
	// means DefaultKillTimeout. Written as a duration string ("5s").
	KillTimeout time.Duration `toml:"kill_timeout"`
}

// Effective returns c with the defaults filled in for empty fields.
func (c Config) Effective() Config {
	if c.Mode == "" {
		c.Mode = ModeReset
	}
	if c.KillTimeout == 0 {
		c.KillTimeout = DefaultKillTimeout
	}
	return c
}

// Validate reports the first bad value, naming its key as written in the
// [reaper] table: an unknown mode, a negative kill_timeout, or one under a
// millisecond (almost surely an integer written without a unit). It
// returns nil for the zero Config.
func (c Config) Validate() error {
	switch c.Mode {
	case "", ModeReset, ModePreserve:
	default:
		return fmt.Errorf("reaper.mode: %q is not %q or %q", c.Mode, ModeReset, ModePreserve)
	}
	switch {
	case c.KillTimeout < 0:
		return fmt.Errorf("reaper.kill_timeout: %s is negative", c.KillTimeout)
	case c.KillTimeout > 0 && c.KillTimeout < minKillTimeout:
		return fmt.Errorf("reaper.kill_timeout: %s is too short; write a duration string such as \"5s\"", c.KillTimeout)
	}
	return nil
}
