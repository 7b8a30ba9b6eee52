package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wad-project/wad/ctl"
)

// TestDoctorStateDirOwnedByRoot prevents a state directory the service
// user cannot write passing `wad doctor`: owned by root while wad runs
// as another user (--user), the state_dir check fails with the chown,
// and wad doctor fails; the same directory passes for its owner.
func TestDoctorStateDirOwnedByRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := user.Lookup("nobody"); err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	os.Mkdir(state, 0o750)
	cfg := filepath.Join(dir, "wad.toml")
	os.WriteFile(cfg, []byte(`socket = "/tmp/wad-doctor-test.sock"
state_dir = "`+state+`"
`), 0o600)
	var out bytes.Buffer
	err := run([]string{"doctor", "--config", cfg, "--user", "nobody", "--json"}, &out, &out)
	var res struct {
		Findings []ctl.Finding `json:"findings"`
		OK       bool          `json:"ok"`
	}
	if jerr := json.Unmarshal(out.Bytes(), &res); err == nil || jerr != nil || res.OK {
		t.Fatalf("wad doctor --user nobody: %v, %v\n%s", err, jerr, &out)
	}
	var sd *ctl.Finding
	for i, f := range res.Findings {
		if f.Check == ctl.CheckStateDir {
			sd = &res.Findings[i]
		}
	}
	if sd == nil || sd.Status != ctl.FindingFail || !strings.Contains(sd.Message, "belongs to root (uid 0), not to nobody") || !strings.HasPrefix(sd.Fix, "sudo chown -R nobody:") {
		t.Errorf("state_dir: %+v", sd)
	}
	out.Reset()
	if err := run([]string{"doctor", "--config", cfg, "--user", "root"}, &out, &out); err != nil || !strings.Contains(out.String(), "ok    state_dir: "+state+": owner root (uid 0), mode 0750") {
		t.Errorf("wad doctor --user root: %v\n%s", err, &out)
	}
}
