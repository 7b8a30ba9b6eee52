package cgroup

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// host is where the package looks: the cgroup mount root, this
// process's /proc/self/cgroup, its environment and effective uid. Tests
// replace it to run the v2 logic on a temporary directory.
type host struct {
	root       string // /sys/fs/cgroup
	selfCgroup func() ([]byte, error)
	getenv     func(string) string
	euid       int
}

func realHost() host {
	return host{
		root:       "/sys/fs/cgroup",
		selfCgroup: func() ([]byte, error) { return os.ReadFile("/proc/self/cgroup") },
		getenv:     os.Getenv,
		euid:       os.Geteuid(),
	}
}

// membership is a parsed /proc/self/cgroup.
type membership struct {
	unified    string            // the "0::" path, "" when absent
	hasUnified bool              // a "0::" line exists
	v1         map[string]string // controller (or "name=systemd") -> path
}

func parseMembership(b []byte) (membership, error) {
	m := membership{v1: map[string]string{}}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 || !strings.HasPrefix(parts[2], "/") {
			return membership{}, fmt.Errorf("/proc/self/cgroup: malformed line %q", line)
		}
		// In a cgroup namespace, a cgroup outside the namespace's root
		// reads as "/../x": joined to the mount point it would name a
		// directory outside the cgroup file system.
		if slices.Contains(strings.Split(parts[2], "/"), "..") {
			return membership{}, fmt.Errorf("/proc/self/cgroup: %q lies outside this cgroup namespace", line)
		}
		if parts[0] == "0" && parts[1] == "" {
			m.unified, m.hasUnified = parts[2], true
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c != "" {
				m.v1[c] = parts[2]
			}
		}
	}
	return m, sc.Err()
}

// unitPath is the path systemd tracks the process by: the name=systemd
// hierarchy's on v1, the unified one's on hybrid and v2.
func (m membership) unitPath() string {
	if p, ok := m.v1["name=systemd"]; ok {
		return p
	}
	return m.unified
}

// v1Controllers are the v1 hierarchies a Tree uses, in this order.
var v1Controllers = []string{"memory", "cpu", "cpuacct", "pids"}

// unifiedMount is the cgroup2 mount: the root itself on a v2 host,
// root/unified on a hybrid one, "" when there is none.
func (h host) unifiedMount() string {
	for _, d := range []string{h.root, filepath.Join(h.root, "unified")} {
		if _, err := os.Stat(filepath.Join(d, "cgroup.controllers")); err == nil {
			return d
		}
	}
	return ""
}

// version says which layout this process lives in: 2 when the root is
// itself a cgroup2 mount (systemd's unified mode: /proc/self/cgroup may
// still list the v1 hierarchies a host mounted elsewhere, as in a
// container), when the process is only in the unified hierarchy, or when
// that one offers the memory controller (hybrid); 1 when a v1 memory
// hierarchy holds it; 0 when neither.
func (h host) version(m membership) int {
	u := h.unifiedMount()
	if u == h.root || (len(m.v1) == 0 && m.hasUnified) {
		return 2
	}
	if u != "" && m.hasUnified {
		if b, err := os.ReadFile(filepath.Join(u, "cgroup.controllers")); err == nil && slices.Contains(strings.Fields(string(b)), "memory") {
			return 2
		}
	}
	if _, ok := m.v1["memory"]; ok {
		return 1
	}
	return 0
}

// v1Hierarchy is one mounted v1 hierarchy and the controllers it has
// ("cpu" and "cpuacct" are one hierarchy where they are co-mounted).
type v1Hierarchy struct {
	mount string
	ctrls []string
}

// v1Hierarchies lists the mounted hierarchies of v1Controllers, each
// once.
func (h host) v1Hierarchies() []v1Hierarchy {
	var hs []v1Hierarchy
	seen := map[string]bool{}
	for _, c := range v1Controllers {
		p := filepath.Join(h.root, c)
		real, err := filepath.EvalSymlinks(p)
		if err != nil || seen[real] {
			continue
		}
		if fi, err := os.Stat(real); err != nil || !fi.IsDir() {
			continue
		}
		seen[real] = true
		var ctrls []string
		for _, x := range strings.Split(filepath.Base(real), ",") {
			if slices.Contains(v1Controllers, x) {
				ctrls = append(ctrls, x)
			}
		}
		if len(ctrls) == 0 {
			ctrls = []string{c}
		}
		hs = append(hs, v1Hierarchy{mount: p, ctrls: ctrls})
	}
	return hs
}

// checkName refuses group and leaf names that would leave the subtree or
// clash with the kernel's files.
func checkName(name string) error {
	switch {
	case name == "", name == ".", name == "..":
		return fmt.Errorf("cgroup name %q: empty or a dot path", name)
	case strings.ContainsAny(name, "/\x00\n"):
		return fmt.Errorf("cgroup name %q: contains a slash, NUL or newline", name)
	case len(name) > 255:
		return fmt.Errorf("cgroup name %q: longer than 255 bytes", name)
	case strings.HasPrefix(name, "cgroup."):
		return fmt.Errorf("cgroup name %q: the kernel's prefix", name)
	case strings.HasPrefix(name, "."):
		// systemd runs a delegated unit's ExecReload= and the like in
		// "<unit>/.control".
		return fmt.Errorf("cgroup name %q: a dot name (systemd's .control)", name)
	}
	return nil
}

// errNotDelegated wraps ErrNotDelegated with a reason.
func errNotDelegated(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrNotDelegated, fmt.Sprintf(format, a...))
}

var errGone = errors.New("cgroup removed")
