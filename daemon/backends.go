package daemon

import (
	"context"
	"errors"
	"log/slog"
	"slices"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/sessions"
	"github.com/wad-project/wad/sessions/chromedp"
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
	cd, err := chromedp.New(cfg.Chromedp, cfg.StateDir, log.With("backend", chromedp.Name))
	if err != nil {
		wm.Close()
		return nil, err
	}
	return []sessions.Backend{wm, cd}, nil
}

// CheckConfig checks what `wad check-config` checks beyond Validate: that
// the backends can run on this host. A missing Chromium is an error when
// chromedp is the default backend and a warning otherwise (its logins
// would fail with backend unavailable). It starts nothing.
func CheckConfig(cfg Config) (warnings []string, err error) {
	if cerr := cfg.Chromedp.Check(); cerr != nil {
		if cfg.Sessions.DefaultBackend == chromedp.Name || !errors.Is(cerr, ctl.ErrUnavailable) {
			return nil, cerr
		}
		warnings = append(warnings, "chromedp backend unavailable: "+cerr.Error())
	}
	return warnings, nil
}
