package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Delegated returns the subtree delegated to this process: its own
// cgroup, when systemd started it as a service with Delegate=yes (v2:
// the directory is owned by the service user, or carries systemd's
// delegate xattr when running as root; v1: the unit's directories in the
// memory and cpu hierarchies were handed over by `wad delegate`). The
// error wraps ErrNotDelegated and says why otherwise: no INVOCATION_ID
// (not a systemd service), the cgroup not owned by or not writable for
// this user (no Delegate=yes, no `wad delegate`, or ProtectControlGroups=
// without a writable hole), running as root without systemd's delegate
// mark, other processes in the same cgroup (a shell inside a user
// service), or no cgroup hierarchy at all. On v1 a hierarchy other than
// memory that is not handed over is left out of the Tree (String lists
// those in it). Call it before Enter: afterwards the own cgroup is the
// leaf.
func Delegated() (*Tree, error) { return realHost().delegated() }

func (h host) delegated() (*Tree, error) {
	if h.getenv("INVOCATION_ID") == "" {
		return nil, errNotDelegated("not started by systemd as a service (INVOCATION_ID is unset)")
	}
	raw, err := h.selfCgroup()
	if err != nil {
		return nil, errNotDelegated("%v", err)
	}
	m, err := parseMembership(raw)
	if err != nil {
		return nil, errNotDelegated("%v", err)
	}
	switch h.version(m) {
	case 2:
		return h.delegatedV2(m)
	case 1:
		return h.delegatedV1(m)
	}
	return nil, errNotDelegated("no cgroup v2 memory controller and no v1 memory hierarchy")
}

func (h host) delegatedV2(m membership) (*Tree, error) {
	mount := h.unifiedMount()
	if mount == "" {
		return nil, errNotDelegated("no cgroup2 mount under %s", h.root)
	}
	if m.unified == "/" {
		return nil, errNotDelegated("this process is in the root cgroup")
	}
	d := filepath.Join(mount, m.unified)
	if err := h.owned(d, "cgroup.procs", "cgroup.subtree_control"); err != nil {
		return nil, err
	}
	if h.euid == 0 && !delegateMark(d) {
		return nil, errNotDelegated("running as root and %s lacks systemd's trusted.delegate mark (no Delegate=yes)", d)
	}
	t := &Tree{version: 2, rel: m.unified, dirs: []dir{{path: d}}}
	if err := t.alone(); err != nil {
		return nil, errNotDelegated("%v", err)
	}
	return t, nil
}

func (h host) delegatedV1(m membership) (*Tree, error) {
	mem := m.v1["memory"]
	unit := m.unitPath()
	if mem == "/" {
		return nil, errNotDelegated("this process is in the root memory cgroup")
	}
	if h.euid == 0 && (!strings.HasSuffix(unit, ".service") || unit != mem) {
		return nil, errNotDelegated("running as root in memory cgroup %s, which is not the service's own (%s)", mem, unit)
	}
	t := &Tree{version: 1, rel: mem}
	for _, hi := range h.v1Hierarchies() {
		if m.v1[hi.ctrls[0]] != mem {
			continue // systemd did not realise the unit there
		}
		d := filepath.Join(hi.mount, mem)
		if err := h.owned(d, "cgroup.procs"); err != nil {
			if hi.ctrls[0] == "memory" {
				return nil, fmt.Errorf("%w (v1: does ExecStartPre run `wad delegate`?)", err)
			}
			continue
		}
		t.dirs = append(t.dirs, dir{path: d, ctrls: hi.ctrls})
	}
	if len(t.dirs) == 0 || !t.dirs[0].has("memory") {
		return nil, errNotDelegated("no v1 memory hierarchy under %s", h.root)
	}
	if err := t.alone(); err != nil {
		return nil, errNotDelegated("%v", err)
	}
	return t, nil
}

// alone fails when a process other than this one sits in the tree's own
// cgroup: then it is not a service's cgroup of its own but, say, that of
// a terminal (a shell started by a user service inherits INVOCATION_ID
// and sits in a cgroup its user owns), and Enter would move this process
// out from under it.
func (t *Tree) alone() error {
	b, err := os.ReadFile(filepath.Join(t.dirs[0].path, "cgroup.procs"))
	if err != nil {
		return err
	}
	self := os.Getpid()
	var others []string
	for _, f := range strings.Fields(string(b)) {
		if f != strconv.Itoa(self) {
			others = append(others, f)
		}
	}
	if len(others) > 0 {
		return fmt.Errorf("%s also holds pids %s: not a cgroup of this process's own", t.dirs[0].path, strings.Join(others, " "))
	}
	return nil
}

// owned checks that d and its files are owned by and writable for this
// process's user.
func (h host) owned(d string, files ...string) error {
	var st unix.Stat_t
	if err := unix.Stat(d, &st); err != nil {
		return errNotDelegated("%v", err)
	}
	if int(st.Uid) != h.euid {
		return errNotDelegated("%s is owned by uid %d, not by this process's uid %d", d, st.Uid, h.euid)
	}
	for _, p := range append([]string{d}, prefix(d, files)...) {
		if err := unix.Access(p, unix.W_OK); err != nil {
			return errNotDelegated("%s is not writable: %v (ProtectControlGroups= without ReadWritePaths= for it?)", p, err)
		}
	}
	return nil
}

func prefix(d string, files []string) []string {
	var out []string
	for _, f := range files {
		out = append(out, filepath.Join(d, f))
	}
	return out
}

// delegateMark reports systemd's mark of a delegated v2 cgroup (the
// trusted.delegate or, where trusted xattrs are unavailable,
// user.delegate extended attribute set to "1").
func delegateMark(d string) bool {
	for _, name := range []string{"trusted.delegate", "user.delegate"} {
		buf := make([]byte, 8)
		n, err := unix.Getxattr(d, name, buf)
		if err == nil && string(buf[:n]) == "1" {
			return true
		}
	}
	return false
}

// At returns a Tree rooted at dir, a cgroup the caller created and may
// write (tests: a cgroup a test made under its own). For v1, dir is the
// path relative to each hierarchy's mount point; the hierarchies without
// that directory are left out, the memory one must have it. An absolute
// path inside a cgroup2 mount (a directory under /sys/fs/cgroup/unified
// on a hybrid host, say) is a v2 tree; on a v2 host, dir may also be
// relative to /sys/fs/cgroup. It fails when dir is not a cgroup
// directory.
func At(dir string) (*Tree, error) { return realHost().at(dir) }

func (h host) at(d string) (*Tree, error) {
	var fs unix.Statfs_t
	if filepath.IsAbs(d) && unix.Statfs(d, &fs) == nil && fs.Type == unix.CGROUP2_SUPER_MAGIC {
		return &Tree{version: 2, rel: d, dirs: []dir{{path: filepath.Clean(d)}}}, nil
	}
	rel := filepath.Clean("/" + d)
	raw, err := h.selfCgroup()
	if err != nil {
		return nil, err
	}
	m, err := parseMembership(raw)
	if err != nil {
		return nil, err
	}
	if h.version(m) == 2 {
		p := filepath.Join(h.unifiedMount(), rel)
		if _, err := os.Stat(filepath.Join(p, "cgroup.procs")); err != nil {
			return nil, fmt.Errorf("cgroup: %s is not a cgroup: %w", p, err)
		}
		return &Tree{version: 2, rel: rel, dirs: []dir{{path: p}}}, nil
	}
	t := &Tree{version: 1, rel: rel}
	for _, hi := range h.v1Hierarchies() {
		p := filepath.Join(hi.mount, rel)
		if _, err := os.Stat(filepath.Join(p, "cgroup.procs")); err == nil {
			t.dirs = append(t.dirs, dir{path: p, ctrls: hi.ctrls})
		}
	}
	if len(t.dirs) == 0 || !t.dirs[0].has("memory") {
		return nil, fmt.Errorf("cgroup: %s is not a cgroup in the v1 memory hierarchy", rel)
	}
	return t, nil
}

// Handover is `wad delegate`: run by systemd as root before the daemon
// (ExecStartPre=+), it hands the unit's cgroup over to the service user
// where systemd does not. On v1 and hybrid hosts it chowns the unit's
// directory (the one this process is in) in the memory, cpu, cpuacct
// and pids hierarchies, with their cgroup.procs and tasks files, to
// uid:gid; it touches a hierarchy only where this process sits in a
// cgroup named like a service ("….service", the same path systemd
// tracks it by), so run from a shell it changes nothing. On v2 it
// changes nothing and reports whether systemd's Delegate=yes handed the
// directory to uid. The string says what it did or found; the error
// (wrapping ErrNotDelegated) says why limits will be off — the caller
// prints it and lets the daemon start anyway.
func Handover(uid, gid int) (string, error) { return realHost().handover(uid, gid) }

func (h host) handover(uid, gid int) (string, error) {
	raw, err := h.selfCgroup()
	if err != nil {
		return "", errNotDelegated("%v", err)
	}
	m, err := parseMembership(raw)
	if err != nil {
		return "", errNotDelegated("%v", err)
	}
	unit := m.unitPath()
	switch h.version(m) {
	case 2:
		d := filepath.Join(h.unifiedMount(), m.unified)
		var st unix.Stat_t
		if err := unix.Stat(d, &st); err != nil {
			return "", errNotDelegated("%v", err)
		}
		if int(st.Uid) != uid {
			return "", errNotDelegated("cgroup v2: %s is owned by uid %d, not %d (is Delegate=yes set?)", d, st.Uid, uid)
		}
		return fmt.Sprintf("cgroup v2: %s is delegated to uid %d by systemd", m.unified, uid), nil
	case 0:
		return "", errNotDelegated("no cgroup v2 memory controller and no v1 memory hierarchy")
	}
	if !strings.HasSuffix(unit, ".service") {
		return "", errNotDelegated("cgroup v1: this process is in %s, not a service's cgroup: not run by systemd as ExecStartPre=+", unit)
	}
	var done, skipped []string
	for _, hi := range h.v1Hierarchies() {
		name := strings.Join(hi.ctrls, ",")
		if m.v1[hi.ctrls[0]] != unit {
			skipped = append(skipped, fmt.Sprintf("%s (at %s)", name, m.v1[hi.ctrls[0]]))
			continue
		}
		d := filepath.Join(hi.mount, unit)
		if err := chownCgroup(d, uid, gid); err != nil {
			return "", errNotDelegated("cgroup v1: %v", err)
		}
		done = append(done, name)
	}
	var msg string
	if len(done) > 0 {
		msg = fmt.Sprintf("cgroup v1: %s handed to uid %d gid %d in %s", unit, uid, gid, strings.Join(done, " "))
		if len(skipped) > 0 {
			msg += "; not the unit's cgroup in " + strings.Join(skipped, ", ")
		}
	}
	if len(done) == 0 || done[0] != "memory" {
		return msg, errNotDelegated("cgroup v1: the unit has no memory cgroup of its own (it is at %s; are the v1 hierarchies read-only?)", m.v1["memory"])
	}
	return msg, nil
}

// chownCgroup hands a v1 cgroup directory and the files that move
// processes to uid:gid.
func chownCgroup(d string, uid, gid int) error {
	for _, p := range []string{d, filepath.Join(d, "cgroup.procs"), filepath.Join(d, "tasks")} {
		if err := os.Lchown(p, uid, gid); err != nil && !(p != d && errors.Is(err, syscall.ENOENT)) {
			return err
		}
	}
	return nil
}
