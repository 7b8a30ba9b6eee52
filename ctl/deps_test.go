package ctl_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestClientDoesNotLinkTheDaemon keeps wactl and Go apps small: neither ctl
// nor cmd/wactl may depend on the daemon, the registry, a backend's
// libraries (Chromium driver, whatsmeow, SQLite), or the daemon's JSON-RPC
// server (jrpc2, which brings net/http and crypto/tls).
func TestClientDoesNotLinkTheDaemon(t *testing.T) {
	forbidden := []string{
		"github.com/wad-project/wad/daemon",
		"github.com/wad-project/wad/sessions",
		"github.com/wad-project/wad/reaper",
		"github.com/chromedp/",
		"go.mau.fi/whatsmeow",
		"modernc.org/sqlite",
		"github.com/creachadair/jrpc2",
		"net/http",
		"crypto/tls",
	}
	for _, pkg := range []string{"github.com/wad-project/wad/ctl", "github.com/wad-project/wad/cmd/wactl"} {
		for _, d := range deps(t, pkg) {
			for _, f := range forbidden {
				if strings.HasPrefix(d, f) {
					t.Errorf("%s depends on %s", pkg, d)
				}
			}
		}
	}
}

// TestBinariesDoNotLinkTheFakes: the fake WhatsApp server (which swaps
// whatsmeow's pinned server key) and the other test helpers are for
// tests only; wad and wactl never link them.
func TestBinariesDoNotLinkTheFakes(t *testing.T) {
	for _, pkg := range []string{"github.com/wad-project/wad/cmd/wad", "github.com/wad-project/wad/cmd/wactl"} {
		linked := deps(t, pkg)
		for _, fake := range []string{
			"github.com/wad-project/wad/internal/wafake",
			"github.com/wad-project/wad/internal/openrpctest",
			"github.com/wad-project/wad/daemon/doctor/doctortest",
			"github.com/wad-project/wad/daemon/daemontest",
			"github.com/wad-project/wad/sessions/sessiontest",
		} {
			if slices.Contains(linked, fake) {
				t.Errorf("%s links %s", pkg, fake)
			}
		}
	}
}

// deps lists the packages pkg depends on, itself included.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps %s listed only %d packages; the check would prove nothing", pkg, len(deps))
	}
	return deps
}
