//go:build e2e

package packaging

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// controllers makes the memory, cpu and pids controllers usable by the
// container's systemd. On a cgroup v2 host nspawn hands the container a
// subtree of the unified hierarchy and there is nothing to do. On a v1
// (or hybrid) host, such as the VM CI runs in, nspawn mounts the v1
// controller hierarchies read-only; the test remounts them writable and
// re-executes systemd, which probes them again, so that MemoryMax= and
// Delegate= act as on a host whose systemd owns its cgroups. The
// directories the container's systemd makes in the host's hierarchies
// are removed by forgetCgroups after the container is gone.
func (c *container) controllers(t *testing.T) {
	t.Helper()
	if _, err := c.run("test", "-e", "/sys/fs/cgroup/cgroup.controllers"); err == nil {
		out := c.mustRun("cat", "/sys/fs/cgroup/cgroup.controllers")
		if !strings.Contains(out, "memory") {
			t.Fatalf("the container's unified cgroup hierarchy has no memory controller (%q): per-browser limits cannot be tested", out)
		}
		return
	}
	var remounted []string
	for _, h := range v1Hierarchies {
		opts, err := c.run("findmnt", "-n", "-o", "OPTIONS", "/sys/fs/cgroup/"+h)
		if err != nil {
			continue
		}
		if slices.Contains(strings.Split(strings.TrimSpace(opts), ","), "ro") {
			c.mustRun("mount", "-o", "remount,rw,bind", "/sys/fs/cgroup/"+h)
			remounted = append(remounted, h)
		}
	}
	if len(remounted) > 0 {
		c.mustRun("systemctl", "daemon-reexec")
		t.Logf("cgroup v1 host: remounted %v writable in the container and re-executed its systemd", remounted)
	}
}

// v1Hierarchies are the cgroup v1 hierarchies wad's limits use, in both
// layouts (cpu and cpuacct apart, or co-mounted).
var v1Hierarchies = []string{"memory", "cpu", "cpuacct", "cpu,cpuacct", "pids"}

// forgetCgroups registers, before the container boots, the removal of
// the cgroups its systemd leaves in this process's v1 hierarchies: they
// are empty once the container is dead, but rmdir is the only way they
// go.
func forgetCgroups(t *testing.T) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	before := map[string]bool{}
	var roots []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 || !slices.Contains(v1Hierarchies, parts[1]) {
			continue
		}
		root := filepath.Join("/sys/fs/cgroup", parts[1], parts[2])
		roots = append(roots, root)
		for _, d := range cgroupDirs(root) {
			before[d] = true
		}
	}
	t.Cleanup(func() {
		for _, root := range roots {
			dirs := cgroupDirs(root)
			slices.Reverse(dirs) // children first
			for _, d := range dirs {
				if !before[d] {
					if err := os.Remove(d); err != nil {
						t.Logf("leftover cgroup: %v", err)
					}
				}
			}
		}
	})
}

// cgroupDirs lists the cgroups under root (not root), parents first.
func cgroupDirs(root string) []string {
	var dirs []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && p != root {
			dirs = append(dirs, p)
		}
		return nil
	})
	return dirs
}

// session is what the test reads of `wactl --json status CLIENT`.
type session struct {
	State       string `json:"state"`
	Reason      string `json:"reason"`
	Message     string `json:"message"`
	PID         int    `json:"pid"`
	MemoryBytes int64  `json:"memory_bytes"`
	MemoryMax   int64  `json:"memory_max"`
	Procs       int    `json:"procs"`
}

func (c *container) session(client string) (session, error) {
	out, err := c.command("wactl", "--json", "status", client).Output()
	if err != nil {
		return session{}, fmt.Errorf("wactl --json status %s: %v %s", client, err, out)
	}
	var s session
	err = json.Unmarshal(out, &s)
	return s, err
}

// limitsStep: a browser over its memory_max is killed by the kernel in
// its own cgroup; its session fails with memory_limit; the daemon and a
// neighbour browser run on, and wactl status shows the neighbour's
// memory. It prevents one runaway Chromium from taking the box (or the
// daemon) down.
func limitsStep(t *testing.T, c *container) {
	c.mustRun("systemd-run", "--quiet", "--unit=e2e-web", share+"/webfake", "-addr", "127.0.0.1:8099", "-dir", share+"/web")
	c.mustRun("sed", "-i", `s|^web_url = .*|web_url = "http://127.0.0.1:8099/"|`, "/etc/wad/wad.toml")
	c.mustRun("sh", "-ec", `printf '\n[chromedp.clients.tiny]\nmemory_max = "16M"\n' >> /etc/wad/wad.toml`)
	c.mustRun("wad", "check-config", "--config", "/etc/wad/wad.toml")
	// The steps before restarted wad as often as StartLimitBurst allows
	// in StartLimitIntervalSec; an admin resets the count the same way.
	c.mustRun("systemctl", "reset-failed", "wad.service")
	c.mustRun("systemctl", "restart", "wad")
	pid := c.mainPID()
	restarts := c.show("wad.service", "NRestarts")

	// The daemon sits in a leaf of the delegated subtree; browsers get
	// cgroups next to it.
	cg := c.mustRun("cat", fmt.Sprintf("/proc/%d/cgroup", pid))
	if !strings.Contains(cg, "/system.slice/wad.service/daemon") {
		t.Fatalf("the daemon is not in its leaf cgroup wad.service/daemon:\n%s\njournal:\n%s", cg, c.journal())
	}

	c.mustRun("wactl", "login", "big", "--backend", "chromedp", "--no-wait")
	// A first Chromium start in a fresh container is slow.
	c.waitFor(2*time.Minute, "big shows its QR code", func() string {
		s, err := c.session("big")
		if err != nil {
			return err.Error()
		}
		if s.State != "qr" {
			return fmt.Sprintf("state %s %s %s", s.State, s.Reason, s.Message)
		}
		return ""
	})
	out, _ := c.run("wactl", "login", "tiny", "--backend", "chromedp", "--no-wait")
	t.Logf("wactl login tiny: %s", out)
	c.waitFor(90*time.Second, "tiny fails with memory_limit", func() string {
		s, err := c.session("tiny")
		if err != nil {
			return err.Error()
		}
		if s.State != "failed" || s.Reason != "memory_limit" {
			return fmt.Sprintf("state %s reason %s: %s", s.State, s.Reason, s.Message)
		}
		return ""
	})
	s, err := c.session("tiny")
	t.Logf("tiny: %+v %v", s, err)

	big, err := c.session("big")
	if err != nil {
		t.Fatal(err)
	}
	if big.State != "qr" || big.MemoryBytes <= 0 || big.Procs <= 0 {
		t.Errorf("the neighbour is %+v, want at its QR code with its cgroup's memory and processes", big)
	}
	if now := c.mainPID(); now != pid {
		t.Errorf("the daemon changed (pid %d -> %d)", pid, now)
	}
	if st := c.show("wad.service", "ActiveState"); st != "active" {
		t.Errorf("wad.service is %s", st)
	}
	if n := c.show("wad.service", "NRestarts"); n != restarts {
		t.Errorf("NRestarts %s -> %s", restarts, n)
	}
	table := c.mustRun("wactl", "status")
	t.Logf("wactl status:\n%s", table)
	line := regexp.MustCompile(`(?m)^big\s.*$`).FindString(table)
	if !regexp.MustCompile(`\b[0-9.]+ ?(MiB|GiB)\b`).MatchString(line) {
		t.Errorf("wactl status shows no memory for big: %q", line)
	}
	if n, _ := strconv.Atoi(strings.TrimSpace(c.mustRun("sh", "-c", "pgrep -u wad -f session-big | wc -l"))); n == 0 {
		t.Error("big's browser is gone")
	}
}
