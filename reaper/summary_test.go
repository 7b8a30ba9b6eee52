package reaper

import (
	"strings"
	"testing"
)

// Prevents: an unreadable summary line.
func TestSummaryString(t *testing.T) {
	s := Summary{Mode: ModeReset, Signalled: 2, Killed: 3, Removed: 10, Bytes: 3 << 20, Quarantined: 4}
	got := s.String()
	for _, want := range []string{"2 processes signalled", "3 killed", "10 entries removed", "4 logins quarantined to unlink", "3 MiB freed"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
}
