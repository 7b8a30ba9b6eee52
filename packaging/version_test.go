package packaging

import (
	"os/exec"
	"regexp"
	"testing"
)

// TestVersion prevents versions that dpkg or rpm reject or order wrongly
// (a snapshot sorting after the release it precedes, a "-" in an rpm
// version).
func TestVersion(t *testing.T) {
	for _, c := range []struct {
		describe string
		commits  int
		dirty    bool
		want     string
	}{
		{"d8132203e3c5", 8, false, "0.0.0~git8.d8132203e3c5"},
		{"d8132203e3c5", 8, true, "0.0.0~git8.d8132203e3c5.dirty"},
		{"v1.2.3-0-gabcdef012345", 40, false, "1.2.3"},
		{"1.2.3-0-gabcdef012345", 40, false, "1.2.3"},
		{"v1.2.3-5-gabcdef012345", 45, false, "1.2.3+git5.abcdef012345"},
		{"v2.0.0-rc1-0-gabcdef012345", 50, false, "2.0.0~rc1"},
		{"v2.0.0-rc1-3-gabcdef012345", 53, true, "2.0.0~rc1+git3.abcdef012345.dirty"},
		{"v2.0.0-beta-2-0-gabcdef012345", 50, false, "2.0.0~beta.2"},
	} {
		got, err := Version(c.describe, c.commits, c.dirty)
		if err != nil || got != c.want {
			t.Errorf("Version(%q, %d, %v) = %q, %v; want %q", c.describe, c.commits, c.dirty, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "release-1-0-gabcdef0", "v1.2.3\n-0-gabc", "not a hash"} {
		if got, err := Version(bad, 1, false); err == nil {
			t.Errorf("Version(%q) = %q, want an error", bad, got)
		}
	}
}

// TestVersionOrder prevents an upgrade path that dpkg would see as a
// downgrade: snapshot < pre-release < release < post-release snapshot.
func TestVersionOrder(t *testing.T) {
	need(t, "dpkg")
	order := []string{"0.0.0~git8.d8132203e3c5", "0.0.0~git9.0000000000aa", "1.0.0~rc1", "1.0.0~rc1+git3.abc", "1.0.0", "1.0.0+git1.abc", "1.0.1"}
	for i := 0; i+1 < len(order); i++ {
		if err := exec.Command("dpkg", "--compare-versions", order[i], "lt", order[i+1]).Run(); err != nil {
			t.Errorf("dpkg does not order %s before %s", order[i], order[i+1])
		}
	}
}

// TestGitVersion prevents `make packages` failing on a checkout without
// tags (git describe then prints a bare hash).
func TestGitVersion(t *testing.T) {
	need(t, "git")
	v, err := GitVersion(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+[0-9A-Za-z.+~]*$`).MatchString(v) {
		t.Fatalf("GitVersion = %q: not a dpkg/rpm version", v)
	}
}
