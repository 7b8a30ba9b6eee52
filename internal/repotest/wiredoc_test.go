package repotest

import (
	"os"
	"strings"
	"testing"

	"github.com/wad-project/wad/ctl"
)

// TestWireReferenceListsEveryMethodEventAndReason fails when docs/wire.md,
// the API reference, misses a method of the table, an event kind or a
// reason code: whatever the daemon can say is documented.
func TestWireReferenceListsEveryMethodEventAndReason(t *testing.T) {
	b, err := os.ReadFile("../../docs/wire.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, m := range ctl.Methods {
		row := "| `" + m.Name + "` | " + m.Access.String() + " |"
		if !strings.Contains(doc, row) {
			t.Errorf("docs/wire.md has no method table row %q", row)
		}
	}
	for _, k := range ctl.Kinds {
		if !strings.Contains(doc, "| `"+k+"` |") {
			t.Errorf("docs/wire.md has no events table row for kind %q", k)
		}
	}
	for _, r := range []string{ctl.ReasonMainDeviceGone, ctl.ReasonPhoneOffline, ctl.ReasonMemoryLimit} {
		if !strings.Contains(doc, "`"+r+"`") {
			t.Errorf("docs/wire.md does not explain reason %q", r)
		}
	}
}
