//go:build e2e

package packaging

import (
	"regexp"
	"strings"
	"testing"
)

// doctor runs `wactl doctor` in the container (as user, when given) and
// returns its output and whether it exited 0.
func (c *container) doctor(user string) (string, bool) {
	args := []string{"wactl", "doctor"}
	if user != "" {
		args = append([]string{"setpriv", "--reuid=" + user, "--regid=" + user, "--init-groups"}, args...)
	}
	out, err := c.run(args...)
	return out, err == nil
}

// findingMatches looks for a FAIL line of check whose message or fix line
// contains re.
func findingMatches(out, check, re string) bool {
	lines := strings.Split(out, "\n")
	pat := regexp.MustCompile(re)
	for i, l := range lines {
		if !strings.HasPrefix(l, "FAIL  "+check) {
			continue
		}
		text := l
		if i+1 < len(lines) && strings.HasPrefix(lines[i+1], "      fix: ") {
			text += "\n" + lines[i+1]
		}
		if pat.MatchString(text) {
			return true
		}
	}
	return false
}

// doctorHealthyStep: on a healthy install wactl doctor exits 0; a caller
// outside group wad and a state directory owned by root are each named
// with their fix.
func doctorHealthyStep(t *testing.T, c *container) {
	out, ok := c.doctor("")
	t.Logf("wactl doctor:\n%s", out)
	if !ok {
		t.Errorf("wactl doctor on a healthy install failed:\n%s\njournal:\n%s", out, c.journal())
	}
	for _, check := range []string{"socket", "config", "state_dir", "chromium", "sandbox", "store", "disk", "unit"} {
		if !regexp.MustCompile(`(?m)^(ok  |WARN)  ` + check + `\b`).MatchString(out) {
			t.Errorf("wactl doctor has no %s finding:\n%s", check, out)
		}
	}

	out, ok = c.doctor("e2e-outsider")
	if ok || !findingMatches(out, "group", "usermod -aG wad") {
		t.Errorf("wactl doctor as a user outside group wad: exit 0=%v, want a failed group finding with the usermod fix:\n%s", ok, out)
	}

	c.mustRun("chown", "root:root", "/var/lib/wad")
	out, ok = c.doctor("")
	c.mustRun("chown", "wad:wad", "/var/lib/wad")
	if ok || !findingMatches(out, "state_dir", "chown") {
		t.Errorf("wactl doctor with /var/lib/wad owned by root: exit 0=%v, want a failed state_dir finding with a chown fix:\n%s", ok, out)
	}
	if out, ok := c.doctor(""); !ok {
		t.Errorf("wactl doctor after the state directory is mended still fails:\n%s", out)
	}
}

// doctorBrokenStep: with chromedp sessions about, a missing Chromium is a
// failure; a corrupted store is named.
func doctorBrokenStep(t *testing.T, c *container) {
	c.mustRun("mv", "/usr/bin/chromium", "/usr/bin/chromium.hidden")
	out, ok := c.doctor("")
	c.mustRun("mv", "/usr/bin/chromium.hidden", "/usr/bin/chromium")
	if ok || !findingMatches(out, "chromium", "(?i)chromium") {
		t.Errorf("wactl doctor without Chromium: exit 0=%v, want a failed chromium finding:\n%s", ok, out)
	}

	// wad.db with a damaged page, while wad is down (it would not start
	// on it): wactl doctor runs `wad doctor` and names the file. A copy
	// of the good file puts things back.
	c.mustRun("systemctl", "stop", "wad.socket", "wad.service")
	db := "/var/lib/wad/wad.db"
	c.mustRun("sh", "-ec", `
		cp -a `+db+` `+db+`.good
		size=$(stat -c %s `+db+`)
		pages=$((size / 4096))
		[ "$pages" -ge 3 ] || { echo "$0: only $pages pages"; exit 1; }
		dd if=/dev/urandom of=`+db+` bs=4096 seek=$((pages / 2)) count=1 conv=notrunc status=none`)
	out, ok = c.doctor("")
	c.mustRun("mv", db+".good", db)
	if ok || !findingMatches(out, "store", "wad.db") {
		t.Errorf("wactl doctor with a corrupted wad.db: exit 0=%v, want a failed store finding naming it:\n%s", ok, out)
	}
	t.Logf("wactl doctor with wad down and wad.db damaged:\n%s", out)
	c.mustRun("systemctl", "reset-failed", "wad.service")
	c.mustRun("systemctl", "start", "wad.socket", "wad.service")
}
