package reaper

import (
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// Prevents: the [reaper] table not decoding the way wad's config file
// writes it (a duration string), and typos passing validation.
func TestConfigDecodeAndValidate(t *testing.T) {
	var doc struct {
		Reaper Config `toml:"reaper"`
	}
	md, err := toml.Decode("[reaper]\nmode = \"preserve\"\nkill_timeout = \"2500ms\"\n", &doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(md.Undecoded()) > 0 {
		t.Errorf("undecoded keys: %v", md.Undecoded())
	}
	if doc.Reaper != (Config{Mode: ModePreserve, KillTimeout: 2500 * time.Millisecond}) {
		t.Errorf("decoded %+v", doc.Reaper)
	}
	if err := doc.Reaper.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	if got := (Config{}).Effective(); got != (Config{Mode: ModeReset, KillTimeout: DefaultKillTimeout}) {
		t.Errorf("defaults = %+v", got)
	}

	bad := map[string]Config{
		"reaper.mode":         {Mode: "Reset"},
		"reaper.kill_timeout": {KillTimeout: -time.Second},
		"too short":           {KillTimeout: 5}, // kill_timeout = 5 decodes to 5ns
	}
	for want, c := range bad {
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate(%+v) = %v, want an error mentioning %q", c, err, want)
		}
	}
	for _, c := range []Config{{}, {Mode: ModeReset}, {KillTimeout: time.Millisecond}, {KillTimeout: time.Hour}} {
		if err := c.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v", c, err)
		}
	}
}
