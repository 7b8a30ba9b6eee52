package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/internal/cgroup"
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
// does not start half-blind. Browsers get cgroups under tree (nil: none).
func openBackends(ctx context.Context, cfg *Config, tree *cgroup.Tree, log *slog.Logger) ([]sessions.Backend, error) {
	wm, err := whatsmeow.New(ctx, cfg.Whatsmeow, cfg.StateDir, log.With("backend", whatsmeow.Name))
	if err != nil {
		return nil, err
	}
	cd, err := chromedp.New(cfg.Chromedp, cfg.StateDir, log.With("backend", chromedp.Name), chromedp.WithCgroups(tree))
	if err != nil {
		wm.Close()
		return nil, err
	}
	return []sessions.Backend{wm, cd}, nil
}

// browserCgroups returns the cgroup subtree the browsers get their
// cgroups under, or nil. With [chromedp] cgroups = "off" it touches
// nothing. Otherwise it uses injected (a tree a test made, used as it is)
// or the subtree systemd delegated to wad.service, into whose leaf
// "daemon" the daemon then moves itself (a cgroup v2 parent cannot hold
// processes of its own). Without one (no systemd, no Delegate=yes, a
// developer's make run) the daemon runs as it always did and says so
// once, at info, and with a warning when limits are configured: they are
// not enforced.
func browserCgroups(cfg *Config, injected *cgroup.Tree, log *slog.Logger) *cgroup.Tree {
	if cfg.Chromedp.Cgroups == chromedp.CgroupsOff {
		return nil
	}
	if injected != nil {
		log.Info("browsers get cgroups of their own", "cgroup", injected.String())
		return injected
	}
	tree, err := cgroup.Delegated()
	if err == nil {
		err = tree.Enter("daemon")
	}
	if err != nil {
		log.Info("per-browser limits are off: " + err.Error())
		if cfg.Chromedp.LimitsSet() {
			log.Warn(`[chromedp] memory_max, memory_high and cpu_max are not enforced without a delegated cgroup subtree (Delegate=yes in wad.service); set cgroups = "off" to silence this`)
		}
		return nil
	}
	log.Info("browsers get cgroups of their own under "+tree.String(), "daemon", tree.String()+"/daemon")
	return tree
}

// limitsKey spells the [chromedp] cgroup settings for comparison: a
// reload that changes them is reported as needing a restart.
func limitsKey(c chromedp.Config) string {
	key := fmt.Sprintf("cgroups=%q memory_max=%q memory_high=%q cpu_max=%q", c.Cgroups, c.MemoryMax, c.MemoryHigh, c.CPUMax)
	for _, id := range slices.Sorted(maps.Keys(c.Clients)) {
		o := c.Clients[id]
		key += fmt.Sprintf(" %s:", id)
		for _, v := range []*string{o.MemoryMax, o.MemoryHigh, o.CPUMax} {
			if v == nil {
				key += " -"
			} else {
				key += fmt.Sprintf(" %q", *v)
			}
		}
	}
	return key
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
