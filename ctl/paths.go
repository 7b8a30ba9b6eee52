package ctl

import (
	"fmt"
	"os"
	"path/filepath"
)

// SystemSocket is where the packaged daemon listens (wad.socket owns it).
const SystemSocket = "/run/wad/wad.sock"

// MaxSocketPath is the longest path a Unix socket can have on Linux
// (sun_path is 108 bytes including the terminating NUL).
const MaxSocketPath = 107

// UserSocket returns the socket path of a daemon run by the current user
// without systemd: $XDG_RUNTIME_DIR/wad/wad.sock, or /tmp/wad-$UID/wad.sock
// when XDG_RUNTIME_DIR is unset.
func UserSocket() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "wad", "wad.sock")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("wad-%d", os.Getuid()), "wad.sock")
}

// DefaultSocket returns the socket a client should use when none is
// given: $WAD_SOCKET if set; else the user's own daemon socket if it
// exists; else the system socket if it exists; else the user socket (so
// the "not running" error names the path a plain `wad` would create).
func DefaultSocket() string {
	if s := os.Getenv("WAD_SOCKET"); s != "" {
		return s
	}
	user := UserSocket()
	for _, p := range []string{user, SystemSocket} {
		if fi, err := os.Stat(p); err == nil && fi.Mode()&os.ModeSocket != 0 {
			return p
		}
	}
	return user
}
