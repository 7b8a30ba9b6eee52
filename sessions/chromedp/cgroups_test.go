package chromedp

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/internal/cgroup"
	"github.com/wad-project/wad/sessions"
)

var testTrees atomic.Int64

// testTree makes a cgroup for the test under the test process's own
// cgroup (cgroup v1: in the memory, cpu, cpuacct and pids hierarchies,
// at the path the memory hierarchy names) and returns it as a Tree; the
// directories it made are removed at cleanup. It skips unless the test
// runs as root on a v1 host: on v2 a cgroup that holds processes cannot
// have controlled children, so the test process's own cgroup is no place
// for one (under systemd, the delegated subtree is).
func testTree(t *testing.T) *cgroup.Tree {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to make cgroups")
	}
	own := ""
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		t.Skip(err)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) == 3 && strings.Contains(","+parts[1]+",", ",memory,") {
			own = parts[2]
		}
	}
	f.Close()
	if own == "" {
		t.Skip("no cgroup v1 memory hierarchy (cgroup v2 hosts test this under systemd delegation)")
	}
	rel := filepath.Join(own, fmt.Sprintf("wadtest-%d-%d", os.Getpid(), testTrees.Add(1)))
	var made []string
	t.Cleanup(func() {
		for i := len(made) - 1; i >= 0; i-- {
			// Whatever is left in it was the test's; sessions removed
			// their groups before the registry closed.
			if err := os.Remove(made[i]); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Logf("removing test cgroup: %v", err)
			}
		}
	})
	for _, h := range []string{"memory", "cpu", "cpuacct", "pids"} {
		root := filepath.Join("/sys/fs/cgroup", h)
		if _, err := os.Stat(filepath.Join(root, "cgroup.procs")); err != nil {
			continue
		}
		// MkdirAll, remembering each directory it made (the path
		// exists in the memory hierarchy only, for a start).
		p := root
		for _, el := range strings.Split(strings.Trim(rel, "/"), "/") {
			p = filepath.Join(p, el)
			if err := os.Mkdir(p, 0o755); err == nil {
				made = append(made, p)
			} else if !errors.Is(err, os.ErrExist) {
				t.Fatalf("making test cgroup: %v", err)
			}
		}
	}
	tree, err := cgroup.At(rel)
	if err != nil {
		t.Fatalf("cgroup.At(%s): %v", rel, err)
	}
	return tree
}

func ptr(s string) *string { return &s }

// Prevents: one browser's memory hunger taking the daemon or the other
// sessions down (the OOM killer striking outside the browser's own
// cgroup), an OOM kill reported as browser_exited or page_crashed, a
// browser at its limit left running, and session.status without the
// cgroup's memory.
func TestMemoryLimitFailsOnlyThatSession(t *testing.T) {
	tree := testTree(t)
	f := newFakeWA(t)
	e := newEnv(t, "", Config{
		WebURL:  f.url(""),
		Clients: map[string]LimitsOverride{"tiny": {MemoryMax: ptr("16M")}},
	})
	e.b.cgroups = tree

	start := time.Now()
	st, _ := e.loginQR("roomy")
	if st.MemoryBytes <= 0 || st.Procs <= 0 || st.CPUSeconds <= 0 || st.MemoryMax != 0 {
		t.Errorf("roomy's status lacks its cgroup's usage (want memory_bytes, procs and cpu_seconds, no memory_max): %+v", st)
	}
	t.Logf("roomy shows a QR code after %s: %.1f MiB in %d processes (rss %.1f MiB)",
		time.Since(start).Round(time.Millisecond), float64(st.MemoryBytes)/(1<<20), st.Procs, float64(st.RSSBytes)/(1<<20))

	start = time.Now()
	_, err := e.reg.Login(t.Context(), "tiny", sessions.LoginOptions{})
	failed := e.waitState("tiny", 60*time.Second, inState(ctl.StateFailed))
	t.Logf("tiny failed after %s (login returned %v): %s: %s", time.Since(start).Round(time.Millisecond), err, failed.Reason, failed.Message)
	if failed.Reason != ctl.ReasonMemoryLimit {
		t.Fatalf("tiny failed with reason %q (%s), want %q", failed.Reason, failed.Message, ctl.ReasonMemoryLimit)
	}
	if !strings.Contains(failed.Message, "memory_max (16 MiB)") {
		t.Errorf("message %q does not name the limit", failed.Message)
	}
	tiny := e.session("tiny")
	waitNoProcesses(t, tiny.Profile(), 15*time.Second)
	gone := filepath.Join("/sys/fs/cgroup/memory", treeRel(t, tree), "browser-tiny")
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(gone); errors.Is(err, os.ErrNotExist) {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("tiny's cgroup %s is still there 15s after its browser went: %v", gone, err)
		}
	}
	t.Logf("tiny's browser and cgroup gone %s after the login", time.Since(start).Round(time.Millisecond))

	// roomy lives on, in its QR state, and keeps being measured.
	roomyPID := st.PID
	time.Sleep(2 * time.Second)
	st, err = e.reg.Get("roomy")
	if err != nil || st.State != ctl.StateQR || st.PID != roomyPID || st.MemoryBytes <= 0 || st.Procs <= 0 {
		t.Fatalf("roomy after tiny's OOM: %+v (err %v), want qr with its browser's pid and cgroup usage", st, err)
	}
	if len(browserMains(e.session("roomy").Profile())) != 1 {
		t.Errorf("roomy's browser is gone")
	}
}

// treeRel is the tree's path under each v1 hierarchy (its String
// without the hierarchy list).
func treeRel(t *testing.T, tree *cgroup.Tree) string {
	t.Helper()
	s, _, _ := strings.Cut(tree.String(), " (")
	return s
}

// Prevents: limits that do not parse reaching a launch, and errors that
// do not say which key of which table is wrong.
func TestValidateLimitsNamesTheKey(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string // "" for valid
	}{
		{Config{}, ""},
		{Config{Cgroups: "auto", MemoryMax: "1G", MemoryHigh: "768M", CPUMax: "150%"}, ""},
		{Config{Cgroups: "off", CPUMax: "1.5", Clients: map[string]LimitsOverride{"not-running-yet": {MemoryMax: ptr("2G")}}}, ""},
		{Config{Cgroups: "sometimes"}, `chromedp.cgroups: "sometimes" is not one of auto, off`},
		{Config{MemoryMax: "1GB"}, `chromedp.memory_max "1GB"`},
		{Config{MemoryHigh: "lots"}, `chromedp.memory_high "lots"`},
		{Config{CPUMax: "-1"}, `chromedp.cpu_max "-1"`},
		{Config{MemoryMax: "512M", MemoryHigh: "1G"}, `chromedp.memory_high "1G" is above memory_max "512M"`},
		{Config{Clients: map[string]LimitsOverride{"sales": {CPUMax: ptr("0%")}}}, `chromedp.clients.sales.cpu_max "0%"`},
		{Config{Clients: map[string]LimitsOverride{"sales": {MemoryMax: ptr("12")}}}, `chromedp.clients.sales.memory_max "12"`},
		{Config{MemoryMax: "1G", Clients: map[string]LimitsOverride{"sales": {MemoryHigh: ptr("2G")}}}, `chromedp.clients.sales (over the [chromedp] defaults): memory_high "2G" is above memory_max "1G"`},
		{Config{Clients: map[string]LimitsOverride{"no such id!": {MemoryMax: ptr("1G")}}}, `chromedp.clients.no such id!: invalid client id`},
	} {
		err := tc.cfg.ValidateLimits()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: unexpected error %v", tc.cfg, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: error %v, want one containing %q", tc.cfg, err, tc.want)
		}
		if tc.want != "" {
			if _, err := New(tc.cfg, t.TempDir(), nil); err == nil {
				t.Errorf("%v: New accepted it", tc.cfg)
			}
		}
	}
}

// Prevents: a client's override not replacing the default it names, or
// replacing the ones it does not name; an empty override lifting the
// limit.
func TestLimitsPerClient(t *testing.T) {
	c := Config{MemoryMax: "1G", MemoryHigh: "768M", CPUMax: "200%", Clients: map[string]LimitsOverride{
		"big":  {MemoryMax: ptr("4G"), MemoryHigh: ptr("3G")},
		"free": {MemoryMax: ptr(""), MemoryHigh: ptr(""), CPUMax: ptr("")},
	}}
	for client, want := range map[string]cgroup.Limits{
		"sales": {MemoryMax: 1 << 30, MemoryHigh: 768 << 20, CPUMax: 2},
		"big":   {MemoryMax: 4 << 30, MemoryHigh: 3 << 30, CPUMax: 2},
		"free":  {},
	} {
		got, err := c.Limits(client)
		if err != nil || got != want {
			t.Errorf("Limits(%s) = %+v, %v; want %+v", client, got, err, want)
		}
	}
	if !c.LimitsSet() || (Config{Clients: map[string]LimitsOverride{"x": {}}}).LimitsSet() {
		t.Errorf("LimitsSet wrong")
	}
}

// Prevents: every death of a browser in a cgroup reported as
// memory_limit (a kill or a renderer crash without the OOM killer keeps
// its own reason), and a killed browser's cgroup left behind.
func TestCrashInCgroupKeepsItsReason(t *testing.T) {
	tree := testTree(t)
	f := newFakeWA(t)
	e := newEnv(t, "", Config{WebURL: f.url(""), MemoryMax: "2G"})
	e.b.cgroups = tree
	st, _ := e.loginQR("victim")
	if st.MemoryMax != 2<<30 {
		t.Errorf("memory_max = %d, want the configured 2 GiB", st.MemoryMax)
	}
	killed := time.Now()
	if err := syscall.Kill(st.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	st = e.waitState("victim", 10*time.Second, inState(ctl.StateFailed))
	t.Logf("killed browser noticed after %s", time.Since(killed).Round(time.Millisecond))
	if st.Reason != ctl.ReasonBrowserExited || st.MemoryBytes != 0 {
		t.Errorf("after kill: %+v, want failed/browser_exited without cgroup usage", st)
	}
	waitNoProcesses(t, e.session("victim").Profile(), 10*time.Second)

	e.loginQR("crashy")
	r := e.session("crashy").current()
	go chromedp.Call(r.ctx, page.Crash, struct{}{}) // never answers
	st = e.waitState("crashy", 10*time.Second, inState(ctl.StateFailed))
	if st.Reason != ctl.ReasonPageCrashed {
		t.Errorf("after renderer crash: %+v, want failed/page_crashed", st)
	}
	waitNoProcesses(t, e.session("crashy").Profile(), 10*time.Second)
	for _, name := range []string{"browser-victim", "browser-crashy"} {
		p := filepath.Join("/sys/fs/cgroup/memory", treeRel(t, tree), name)
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
				break
			} else if time.Now().After(deadline) {
				t.Fatalf("cgroup %s outlived its browser: %v", p, err)
			}
		}
	}
}

// Prevents: a configured limit silently not enforced when its cgroup
// cannot be made (the start fails and says how to run without limits),
// and a client without limits refused for want of a cgroup that would
// only have measured it.
func TestLimitsThatCannotBeAppliedFailTheStart(t *testing.T) {
	tree := testTree(t)
	// The tree's directories go away: no group can be made under it.
	rel := treeRel(t, tree)
	for _, h := range []string{"pids", "cpuacct", "cpu", "memory"} {
		if err := os.Remove(filepath.Join("/sys/fs/cgroup", h, rel)); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	f := newFakeWA(t)
	e := newEnv(t, "", Config{WebURL: f.url(""), Clients: map[string]LimitsOverride{"limited": {CPUMax: ptr("50%")}}})
	e.b.cgroups = tree

	_, err := e.reg.Login(t.Context(), "limited", sessions.LoginOptions{})
	st, _ := e.reg.Get("limited")
	if err == nil || st.State != ctl.StateFailed || st.Reason != ctl.ReasonBackendError ||
		!strings.Contains(st.Message, "cpu_max 0.5 CPUs") || !strings.Contains(st.Message, `cgroups = "off"`) {
		t.Fatalf("login with limits but no cgroup: %v, %+v; want failed/backend_error naming the limit and cgroups = \"off\"", err, st)
	}
	if n := len(ProfileProcesses(ProfileDir(e.stateDir, "limited"))); n != 0 {
		t.Errorf("%d browser processes run without their limits", n)
	}
	st, _ = e.loginQR("free")
	if st.PID <= 0 || st.MemoryBytes != 0 {
		t.Errorf("client without limits: %+v, want a browser without cgroup usage", st)
	}
}

// Prevents: a session whose page outgrows memory_max while it runs (the
// common case: WhatsApp Web's memory creeps up over days) reported as a
// page crash, or left running on a browser that lost its renderer.
func TestPageOutgrowingItsLimitFailsWithMemoryLimit(t *testing.T) {
	tree := testTree(t)
	f := newFakeWA(t)
	e := newEnv(t, "", Config{WebURL: f.url(""), MemoryMax: "320M"})
	e.b.cgroups = tree
	st, _ := e.loginQR("hog")
	t.Logf("hog at its QR code: %.1f MiB of %.1f MiB", float64(st.MemoryBytes)/(1<<20), float64(st.MemoryMax)/(1<<20))
	r := e.session("hog").current()
	start := time.Now()
	// The page keeps 8 MiB arrays until the kernel stops it.
	go chromedp.Run(r.ctx, chromedp.Evaluate[any](`(() => { window.hog = []; for (;;) { const a = new Uint8Array(8 << 20); a.fill(1); window.hog.push(a); } })()`))
	st = e.waitState("hog", 60*time.Second, inState(ctl.StateFailed))
	t.Logf("hog failed %s after it began to hoard: %s: %s", time.Since(start).Round(time.Millisecond), st.Reason, st.Message)
	if st.Reason != ctl.ReasonMemoryLimit || !strings.Contains(st.Message, "memory_max (320 MiB)") {
		t.Fatalf("hog: %+v, want failed/memory_limit naming memory_max (320 MiB)", st)
	}
	waitNoProcesses(t, e.session("hog").Profile(), 15*time.Second)
}

// Prevents: a browser that is started outside its cgroup and moved in
// afterwards (cgroup v1, and v2 under wad.service, where clone3 is
// filtered): what it allocated before the move stays charged to the
// daemon's cgroup, outside memory_max and missing from memory_bytes,
// since the kernel does not move charges with a process.
func TestBrowserStartsInsideItsCgroup(t *testing.T) {
	tree := testTree(t)
	chrome, err := Config{}.chromePath()
	if err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	wrapper := filepath.Join(dir, "chrome")
	script := fmt.Sprintf("#!/bin/sh\ncat /proc/self/cgroup >%q\nexec %q \"$@\"\n", filepath.Join(dir, "cgroup"), chrome)
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	f := newFakeWA(t)
	e := newEnv(t, "", Config{ChromePath: wrapper, WebURL: f.url(""), MemoryMax: "1G"})
	e.b.cgroups = tree
	e.loginQR("c")
	b, err := os.ReadFile(filepath.Join(dir, "cgroup"))
	if err != nil {
		t.Fatal(err)
	}
	want := treeRel(t, tree) + "/browser-c"
	if !strings.Contains(string(b), ":memory:"+want+"\n") {
		t.Errorf("the browser began outside its cgroup %s:\n%s", want, b)
	}
}

// Prevents: a browser with limits started outside its cgroup when
// joining it fails, and the arguments of the browser mangled on the way
// through the shell that joins.
func TestJoinScript(t *testing.T) {
	procs := filepath.Join(t.TempDir(), "cgroup.procs")
	os.WriteFile(procs, nil, 0o644)
	args := []string{"a b", "--", "$HOME", `"q"`}
	for _, tc := range []struct {
		join   []string
		strict bool
		fails  bool
	}{
		{[]string{procs, procs}, true, false},
		{[]string{"/nonexistent/cgroup.procs"}, false, false},
		{[]string{procs, "/nonexistent/cgroup.procs"}, true, true},
	} {
		cmd := exec.Command("/bin/echo", args...)
		cgroupStart{fd: -1, join: tc.join, strict: tc.strict}.wrap(cmd)
		out, err := cmd.CombinedOutput()
		if tc.fails {
			if err == nil || !strings.Contains(string(out), joinFailed) {
				t.Errorf("join %v, strict: %v %q; want it to fail with %q", tc.join, err, out, joinFailed)
			}
			continue
		}
		if err != nil || !strings.HasSuffix(string(out), strings.Join(args, " ")+"\n") {
			t.Errorf("join %v, strict %v: %v %q; want the browser run with %q", tc.join, tc.strict, err, out, args)
		}
	}
	if b, _ := os.ReadFile(procs); string(b) != "0\n" {
		t.Errorf("cgroup.procs got %q, want \"0\\n\"", b)
	}
}
