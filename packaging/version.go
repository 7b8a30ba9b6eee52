package packaging

import (
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// describeRE matches `git describe --tags --long` output: a tag, the
// commits since it and the abbreviated hash.
var describeRE = regexp.MustCompile(`^(.+)-([0-9]+)-g([0-9a-f]+)$`)

// tagRE is a release tag: v1.2.3 or 1.2.3, optionally with a pre-release
// such as -rc1 or -beta.2.
var tagRE = regexp.MustCompile(`^v?([0-9]+(?:\.[0-9]+)*)(?:-([0-9A-Za-z.-]+))?$`)

// Version turns what git says about the checked-out commit into a version
// that dpkg and rpm both accept and order correctly:
//
//   - no tag reachable (describe is a bare hash): 0.0.0~git<commits>.<hash>,
//     where commits counts the commits up to HEAD, so later builds sort
//     higher, and "~" sorts before any 0.0.0 release;
//   - exactly on tag v1.2.3: 1.2.3; on v1.2.3-rc1: 1.2.3~rc1 (before 1.2.3);
//   - n commits after a tag: 1.2.3+git<n>.<hash> (after 1.2.3, before the
//     next release); after a pre-release tag: 1.2.3~rc1+git<n>.<hash>.
//
// A dirty work tree appends ".dirty". describe is `git describe --tags
// --long --always` output; a tag that is not a version is an error.
func Version(describe string, commits int, dirty bool) (string, error) {
	describe = strings.TrimSpace(describe)
	var v string
	if m := describeRE.FindStringSubmatch(describe); m != nil {
		t := tagRE.FindStringSubmatch(m[1])
		if t == nil {
			return "", fmt.Errorf("tag %q is not a version (want v1.2.3 or v1.2.3-rc1)", m[1])
		}
		v = t[1]
		if t[2] != "" {
			v += "~" + strings.ReplaceAll(t[2], "-", ".")
		}
		if m[2] != "0" {
			v += "+git" + m[2] + "." + m[3]
		}
	} else if regexp.MustCompile(`^[0-9a-f]{4,40}$`).MatchString(describe) {
		v = fmt.Sprintf("0.0.0~git%d.%s", commits, describe)
	} else {
		return "", fmt.Errorf("unexpected git describe output %q", describe)
	}
	if dirty {
		v += ".dirty"
	}
	return v, nil
}

// GitVersion returns Version for the repository at dir, from `git
// describe --tags --long --always`, `git rev-list --count HEAD` and `git
// status --porcelain`.
func GitVersion(dir string) (string, error) {
	git := func(args ...string) (string, error) {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			if ee, ok := err.(*exec.ExitError); ok {
				return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, ee.Stderr)
			}
			return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
		}
		return strings.TrimSpace(string(out)), nil
	}
	desc, err := git("describe", "--tags", "--long", "--always", "--abbrev=12")
	if err != nil {
		return "", err
	}
	count, err := git("rev-list", "--count", "HEAD")
	if err != nil {
		return "", err
	}
	n, err := strconv.Atoi(count)
	if err != nil {
		return "", fmt.Errorf("git rev-list --count: %q", count)
	}
	status, err := git("status", "--porcelain", "--untracked-files=no")
	if err != nil {
		return "", err
	}
	return Version(desc, n, status != "")
}
