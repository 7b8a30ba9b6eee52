package chromeproc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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
}

// Prevents: Stat misreading a process whose name contains ") " (go-ps's
// own parser stops at the first ')'), Same missing a zombie, or
// Processes listing a zombie.
func TestStat(t *testing.T) {
	t.Parallel()
	h := start(t, helperOpts{args: []string{"chromium"}, mode: "rename"})
	for range 1000 { // until it renamed itself
		comm, _ := os.ReadFile("/proc/" + strconv.Itoa(h.pid) + "/comm")
		if string(comm) == "a) S 1 2 (b\n" {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	p, err := Stat(h.pid)
	if err != nil || p.PPID != os.Getpid() || p.PGID != h.pid || p.State == 'Z' || p.Start == 0 {
		t.Fatalf("Stat of a helper named \"a) S 1 2 (b\": %+v, %v; want parent %d, group %d", p, err, os.Getpid(), h.pid)
	}
	if !p.Same() {
		t.Error("Same false for a running process")
	}
	if _, err := Stat(deadPID(t)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Stat of a dead pid: %v, want not-exist", err)
	}
	z := start(t, helperOpts{args: []string{"chromium"}, mode: "exit"})
	if zp, err := Stat(z.pid); err != nil || zp.Same() {
		t.Errorf("zombie: %+v, %v; Same must be false", zp, err)
	}
	plain := start(t, helperOpts{args: []string{"chromium"}})
	all, err := Processes()
	if err != nil {
		t.Fatal(err)
	}
	var seen []int
	for _, q := range all {
		if q.PID == plain.pid || q.PID == z.pid {
			seen = append(seen, q.PID)
		}
	}
	if !slices.Equal(seen, []int{plain.pid}) {
		t.Errorf("Processes lists %v of the helper %d and the zombie %d; want only the helper", seen, plain.pid, z.pid)
	}
}

// Prevents: Ours missing a Chrome of ours (reached through a symlink, "..",
// a relative path, or a child without the flag) or listing one that is
// not: on a sibling directory whose name extends ours, of another uid, a
// zombie, or a non-Chrome executable whose argv[0] and flags mimic Chrome.
func TestOurs(t *testing.T) {
	t.Parallel()
	root := openDirs(t)
	state := filepath.Join(root, "state")
	auth := filepath.Join(state, ".wwebjs_auth")
	mkdirs(t, filepath.Join(auth, "x"), filepath.Join(root, "state-decoy"))
	if err := os.Symlink(auth, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	profA := filepath.Join(auth, "session-a")
	a := start(t, helperOpts{args: []string{"chromium", "--user-data-dir=" + profA}, mode: "fork"})
	b := start(t, helperOpts{args: []string{"chromium", "--user-data-dir", "link/x/../session-b"}, dir: root})
	decoy := start(t, helperOpts{args: []string{"chromium", "--user-data-dir=" + filepath.Join(root, "state-decoy", "p")}})
	zombie := start(t, helperOpts{args: []string{"chromium", "--user-data-dir=" + profA}, mode: "exit"})
	self, _ := os.Executable()
	mimic := start(t, helperOpts{exe: self, args: []string{"chromium", "--user-data-dir=" + profA}})
	var other *helper
	if os.Geteuid() == 0 {
		other = start(t, helperOpts{args: []string{"chromium", "--user-data-dir=" + profA}, uid: 65534})
	}

	cs, err := Ours(state)
	if err != nil {
		t.Fatal(err)
	}
	got := pids(cs)
	want := map[int]struct {
		main    bool
		profile string
	}{a.pid: {true, profA}, a.child: {false, ""}, b.pid: {true, filepath.Join(auth, "session-b")}}
	for pid, w := range want {
		c, ok := got[pid]
		if !ok || c.Main != w.main || c.Profile != w.profile || c.Exe != fakeChrome {
			t.Errorf("pid %d: %+v (listed %v), want main %v, profile %q, exe %s", pid, c, ok, w.main, w.profile, fakeChrome)
		}
	}
	for name, h := range map[string]*helper{"decoy": decoy, "zombie": zombie, "mimic": mimic, "other uid": other} {
		if h != nil {
			if _, ok := got[h.pid]; ok {
				t.Errorf("Ours lists the %s process %d", name, h.pid)
			}
		}
	}
	if len(got) != len(want) {
		t.Errorf("Ours(%s) = %v, want exactly %v", state, cs, want)
	}
	if s := got[a.pid].String(); s != "pid "+strconv.Itoa(a.pid)+" (chromium browser, profile "+profA+")" {
		t.Errorf("String() = %q", s)
	}
	// A profile directory is a directory like any other.
	if cs, _ := Ours(profA); len(cs) != 2 {
		t.Errorf("Ours(%s) = %v, want the browser and its child", profA, cs)
	}
}

// Prevents: Tree losing a browser's children once their parent died (they
// are still in its process group), TreeRSS reading nothing, or KillTree
// leaving a process of the profile behind or reporting success early.
func TestTreeAndKillTree(t *testing.T) {
	t.Parallel()
	profile := filepath.Join(t.TempDir(), "session-k")
	h := start(t, helperOpts{args: []string{"chromium", "--user-data-dir=" + profile}, mode: "fork"})
	if tr := Tree(h.pid); !slices.Contains(tr, h.pid) || !slices.Contains(tr, h.child) {
		t.Errorf("Tree(%d) = %v, want the helper and its child %d", h.pid, tr, h.child)
	}
	if rss := TreeRSS(h.pid); rss < 1<<20 {
		t.Errorf("TreeRSS = %d bytes, want at least 1 MiB for two Go processes", rss)
	}
	// Kill the parent: the child, re-parented, is still in the group.
	syscall.Kill(h.pid, syscall.SIGKILL)
	h.cmd.Wait()
	if tr := Tree(h.pid); !slices.Equal(tr, []int{h.child}) {
		t.Errorf("Tree(%d) after the parent died = %v, want only the child %d", h.pid, tr, h.child)
	}
	// A second browser on the profile, in a group of its own.
	other := start(t, helperOpts{args: []string{"chromium", "--user-data-dir=" + profile}})
	if !KillTree(h.pid, profile, 10*time.Second) {
		t.Fatal("KillTree reports survivors")
	}
	for _, pid := range []int{h.child, other.pid} {
		if p, err := Stat(pid); err == nil && p.State != 'Z' {
			t.Errorf("pid %d survived KillTree: %+v", pid, p)
		}
	}
	if tr := Tree(h.pid); len(tr) != 0 {
		t.Errorf("Tree of a dead group = %v", tr)
	}
}

// Prevents: signalling a process that is gone or whose pid was reused,
// or WaitAll returning before the process exited.
func TestHandle(t *testing.T) {
	t.Parallel()
	profile := filepath.Join(t.TempDir(), "p")
	h := start(t, helperOpts{args: []string{"chromium", "--user-data-dir=" + profile}})
	cs, err := Ours(profile)
	if err != nil || len(cs) != 1 {
		t.Fatalf("Ours = %v, %v", cs, err)
	}
	hd, err := Open(cs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer hd.Close()
	if hd.Exited() {
		t.Fatal("Exited before any signal")
	}
	if err := hd.Signal(unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	left, err := WaitAll(context.Background(), []*Handle{hd}, time.Now().Add(10*time.Second))
	if err != nil || len(left) != 0 || !hd.Exited() {
		t.Fatalf("WaitAll = %v, %v; want none left", left, err)
	}
	if err := hd.Signal(unix.SIGKILL); err != nil {
		t.Errorf("Signal to an exited process: %v", err)
	}
	h.cmd.Wait()
	if _, err := Open(cs[0]); !errors.Is(err, ErrGone) {
		t.Errorf("Open of a reaped process: %v, want ErrGone", err)
	}
	self, err := Stat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	self.Start++ // a live pid, but another process than the one read
	if _, err := Open(Chrome{Proc: self}); !errors.Is(err, ErrGone) {
		t.Errorf("Open of a reused pid: %v, want ErrGone", err)
	}
}

// Prevents: removing the lock of a browser running on the profile (ours
// or another user's), keeping one whose pid is dead, a zombie, not a
// Chrome, or a Chrome on another profile (a reused pid), or judging
// another host's or a garbled lock stale.
func TestJudgeLock(t *testing.T) {
	t.Parallel()
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	root := openDirs(t)
	profile := filepath.Join(root, "session-l")
	mkdirs(t, profile)
	if err := os.Symlink(profile, filepath.Join(root, "via-link")); err != nil {
		t.Fatal(err)
	}
	onIt := start(t, helperOpts{args: []string{"chromium", "--user-data-dir=via-link"}, dir: root})
	elsewhere := start(t, helperOpts{args: []string{"chromium", "--user-data-dir=" + filepath.Join(root, "other")}})
	zombie := start(t, helperOpts{args: []string{"chromium", "--user-data-dir=" + profile}, mode: "exit"})
	lock := func(pid int) string { return host + "-" + strconv.Itoa(pid) }
	cases := []struct {
		name, target string
		want         LockStatus
	}{
		{"browser on the profile", lock(onIt.pid), LockLive},
		{"browser on another profile", lock(elsewhere.pid), LockStale},
		{"dead pid", lock(deadPID(t)), LockStale},
		{"zombie", lock(zombie.pid), LockStale},
		{"not a Chrome", lock(os.Getpid()), LockStale},
		{"another host", "not-" + lock(onIt.pid), LockForeign},
		{"garbled", "no pid here", LockInvalid},
	}
	if os.Geteuid() == 0 {
		other := start(t, helperOpts{args: []string{"chromium", "--user-data-dir=" + profile}, uid: 65534})
		cases = append(cases, struct {
			name, target string
			want         LockStatus
		}{"another user's browser on the profile", lock(other.pid), LockLive})
	}
	path := filepath.Join(profile, LockName)
	for _, c := range cases {
		os.Remove(path)
		if err := os.Symlink(c.target, path); err != nil {
			t.Fatal(err)
		}
		l, err := ReadLock(profile)
		if err != nil || l.Status != c.want || l.Target != c.target {
			t.Errorf("%s: ReadLock = %+v, %v; want %v", c.name, l, err, c.want)
		}
		if c.want == LockLive && l.Holder != "chromium" {
			t.Errorf("%s: holder %q, want chromium", c.name, l.Holder)
		}
		fd, err := unix.Open(profile, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if at, err := ReadLockAt(fd, profile, host); err != nil || at != l {
			t.Errorf("%s: ReadLockAt = %+v, %v; ReadLock said %+v", c.name, at, err, l)
		}
		unix.Close(fd)
	}
	os.Remove(path)
	if l, err := ReadLock(profile); err != nil || l.Status != LockNone {
		t.Errorf("no lock: %+v, %v", l, err)
	}
	if err := os.WriteFile(path, []byte(lock(onIt.pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	if l, err := ReadLock(profile); err != nil || l.Status != LockInvalid {
		t.Errorf("a regular file as lock: %+v, %v; want invalid", l, err)
	}
}

// Prevents: RemoveSingletons following SingletonSocket into /tmp, or
// removing anything else of the profile.
func TestRemoveSingletons(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	profile := filepath.Join(root, "p")
	mkdirs(t, filepath.Join(profile, "Default"))
	outside := filepath.Join(root, "socket-target")
	if err := os.WriteFile(outside, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{LockName: "h-1", "SingletonSocket": outside, "SingletonCookie": "42"} {
		if err := os.Symlink(target, filepath.Join(profile, name)); err != nil {
			t.Fatal(err)
		}
	}
	if removed, err := RemoveSingletons(profile); !removed || err != nil {
		t.Fatalf("RemoveSingletons = %v, %v", removed, err)
	}
	ents, _ := os.ReadDir(profile)
	if len(ents) != 1 || ents[0].Name() != "Default" {
		t.Errorf("left in the profile: %v, want only Default", ents)
	}
	if _, err := os.Stat(outside); err != nil {
		t.Errorf("the socket's target was touched: %v", err)
	}
	if removed, err := RemoveSingletons(profile); removed || err != nil {
		t.Errorf("second RemoveSingletons = %v, %v; want nothing to do", removed, err)
	}
	if removed, err := RemoveSingletons(filepath.Join(root, "missing")); removed || err != nil {
		t.Errorf("missing profile: %v, %v", removed, err)
	}
	if !IsSingleton("SingletonSocket") || IsSingleton("Default") {
		t.Error("IsSingleton")
	}
}
