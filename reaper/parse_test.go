package reaper

import (
	"strings"
	"testing"
)

// Prevents: missing a profile because of how the flag was written or how
// Chrome rewrote its children's titles, or matching the wrong value.
func TestUserDataDir(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
		ok   bool
	}{
		{"equals form", []string{"chromium", "--headless", "--user-data-dir=/s/a"}, "/s/a", true},
		{"space form", []string{"chromium", "--user-data-dir", "/s/a", "about:blank"}, "/s/a", true},
		{"single dash", []string{"chrome", "-user-data-dir=/s/a"}, "/s/a", true},
		{"last wins", []string{"chrome", "--user-data-dir=/x", "--user-data-dir=/s/a"}, "/s/a", true},
		{"after URL", []string{"chromium", "about:blank", "--user-data-dir=/s/a"}, "/s/a", true},
		{"after --", []string{"chromium", "--", "--user-data-dir=/s/a"}, "", false},
		{"empty value", []string{"chromium", "--user-data-dir"}, "", true},
		{"other switch", []string{"chromium", "--user-data-dirx=/s/a", "--disk-cache-dir=/s/a"}, "", false},
		{"argv0 only", []string{"--user-data-dir=/s/a"}, "", false},
		{"spaces in path", []string{"chromium", "--user-data-dir=/s/my profile"}, "/s/my profile", true},
		{"rewritten title", []string{"/usr/lib/chromium/chromium --type=renderer --crashpad-handler-pid=0 " +
			"--enable-crash-reporter=,built on Debian GNU/Linux 12 (bookworm) --noerrdialogs " +
			"--user-data-dir=/s/.wwebjs_auth/session-a --change-stack-guard-on-fork=enable --no-sandbox"},
			"/s/.wwebjs_auth/session-a", true},
		{"rewritten, path with spaces, last", []string{"chrome --type=zygote --user-data-dir=/s/my profile"}, "/s/my profile", true},
		{"rewritten, space form", []string{"chrome --type=zygote --user-data-dir /s/a --no-sandbox"}, "/s/a", true},
	}
	for _, c := range cases {
		got, ok := userDataDir(c.args)
		if got != c.want || ok != c.ok {
			t.Errorf("%s: userDataDir(%q) = %q, %v; want %q, %v", c.name, c.args, got, ok, c.want, c.ok)
		}
	}
	if !isMain([]string{"chromium", "--user-data-dir=/s"}) || isMain([]string{"chromium --type=gpu-process --user-data-dir=/s"}) {
		t.Error("isMain misjudges browser vs child")
	}
}

// Prevents: a string-prefix check treating /s-decoy as inside /s.
func TestWithin(t *testing.T) {
	for _, c := range []struct {
		dir, path string
		want      bool
	}{
		{"/s", "/s", true}, {"/s", "/s/a", true}, {"/s", "/s-decoy/a", false},
		{"/s", "/", false}, {"/s/a", "/s", false}, {"/s", "/s/..a", true},
	} {
		if got := within(c.dir, c.path); got != c.want {
			t.Errorf("within(%q, %q) = %v", c.dir, c.path, got)
		}
	}
}

// Prevents: misreading Chrome's "hostname-pid" lock when the host name
// itself contains '-'.
func TestParseLock(t *testing.T) {
	for target, want := range map[string]struct {
		host string
		pid  int
		ok   bool
	}{
		"vm-123":          {"vm", 123, true},
		"web-01.lan-4567": {"web-01.lan", 4567, true},
		"vm-":             {"", 0, false},
		"-12":             {"", 0, false},
		"vm-0":            {"", 0, false},
		"nodash":          {"", 0, false},
		"vm-12x":          {"", 0, false},
	} {
		h, p, ok := parseLock(target)
		if h != want.host || p != want.pid || ok != want.ok {
			t.Errorf("parseLock(%q) = %q, %d, %v; want %+v", target, h, p, ok, want)
		}
	}
	if s := judgeLock("other-1", "vm"); s != lockForeign {
		t.Errorf("another host's lock judged %v", s)
	}
}

// Prevents: an unreadable summary line.
func TestSummaryString(t *testing.T) {
	s := Summary{Mode: ModeReset, Signalled: 2, Killed: 3, Removed: 10, Bytes: 3 << 20}
	got := s.String()
	for _, want := range []string{"2 processes signalled", "3 killed", "10 entries removed", "3.0 MiB freed"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
}
