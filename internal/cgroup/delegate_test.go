package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// unitHost is the real host as seen from a process systemd started in
// the unit cgroup rel on v1 (every hierarchy, name=systemd included),
// running as euid.
func unitHost(rel string, euid int) host {
	h := realHost()
	h.euid = euid
	h.getenv = func(k string) string { return map[string]string{"INVOCATION_ID": "abc"}[k] }
	h.selfCgroup = func() ([]byte, error) {
		return fmt.Appendf(nil, "9:name=systemd:%s\n8:pids:%[1]s\n4:memory:%[1]s\n2:cpuacct:%[1]s\n1:cpu:%[1]s\n0::%[1]s\n", rel), nil
	}
	return h
}

func owner(t *testing.T, p string) (int, int) {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return int(st.Uid), int(st.Gid)
}

// TestHandoverChownsTheUnitsV1Cgroups prevents the v1 gap systemd 252
// leaves (Delegate=yes does not chown v1 controller hierarchies): after
// `wad delegate` the service user owns its unit's directory and
// cgroup.procs/tasks in memory, cpu, cpuacct and pids, and Delegated
// then accepts that user's tree.
func TestHandoverChownsTheUnitsV1Cgroups(t *testing.T) {
	rel := scratchV1(t, ".service")
	const uid, gid = 4242, 4343
	msg, err := unitHost(rel, 0).handover(uid, gid)
	t.Log(msg)
	if err != nil {
		t.Fatal(err)
	}
	for _, hi := range realHost().v1Hierarchies() {
		d := filepath.Join(hi.mount, rel)
		for _, p := range []string{d, d + "/cgroup.procs", d + "/tasks"} {
			if u, g := owner(t, p); u != uid || g != gid {
				t.Errorf("%s owned by %d:%d", p, u, g)
			}
		}
		if u, _ := owner(t, d+"/cgroup.clone_children"); u != 0 {
			t.Errorf("%s/cgroup.clone_children handed over too", d)
		}
		if u, _ := owner(t, filepath.Dir(d)); u != 0 {
			t.Errorf("the parent %s was handed over", filepath.Dir(d))
		}
	}
	tree, err := unitHost(rel, uid).delegated()
	if err != nil {
		t.Fatal(err)
	}
	if tree.Version() != 1 || len(tree.dirs) != len(realHost().v1Hierarchies()) {
		t.Errorf("tree %s", tree)
	}
	t.Logf("tree: %s", tree)
	// Another user still gets nothing.
	if _, err := unitHost(rel, uid+1).delegated(); !errors.Is(err, ErrNotDelegated) || !strings.Contains(err.Error(), "wad delegate") {
		t.Errorf("another user: %v", err)
	}
}

// TestHandoverOutsideAServiceChangesNothing prevents `wad delegate` run
// from a shell (or a root cgroup) from chowning cgroups that are not a
// service's.
func TestHandoverOutsideAServiceChangesNothing(t *testing.T) {
	rel := scratchV1(t, "")
	h := unitHost(rel, 0)
	_, err := h.handover(4242, 4242)
	if !errors.Is(err, ErrNotDelegated) || !strings.Contains(err.Error(), "not a service's cgroup") {
		t.Errorf("handover of %s: %v", rel, err)
	}
	_, err = unitHost("/", 0).handover(4242, 4242)
	if !errors.Is(err, ErrNotDelegated) {
		t.Errorf("handover of /: %v", err)
	}
	for _, hi := range realHost().v1Hierarchies() {
		for _, d := range []string{filepath.Join(hi.mount, rel), hi.mount} {
			if u, _ := owner(t, d); u != 0 {
				t.Errorf("%s handed over", d)
			}
		}
	}
	// The real Handover from this test process, no service either.
	if msg, err := Handover(4242, 4242); !errors.Is(err, ErrNotDelegated) {
		t.Errorf("Handover from the test: %q, %v", msg, err)
	}
}

// TestHandoverV2OnlyChecks prevents `wad delegate` changing anything on
// v2, where systemd's Delegate=yes does the handing over: it reports
// whether the directory belongs to the user.
func TestHandoverV2OnlyChecks(t *testing.T) {
	h, unit := fakeV2(t)
	if _, err := h.handover(4242, 4242); !errors.Is(err, ErrNotDelegated) || !strings.Contains(err.Error(), "Delegate=yes") {
		t.Errorf("v2 not delegated: %v", err)
	}
	os.Lchown(unit, 4242, 4242)
	msg, err := h.handover(4242, 4242)
	if err != nil || !strings.Contains(msg, "delegated to uid 4242") {
		t.Errorf("v2 delegated: %q, %v", msg, err)
	}
	if u, _ := owner(t, unit+"/cgroup.procs"); u != 0 && os.Geteuid() == 0 {
		t.Error("v2 handover chowned a file")
	}
}
