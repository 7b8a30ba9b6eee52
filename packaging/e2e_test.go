//go:build e2e

package packaging

// The end-to-end test of the .deb under a real systemd (`make e2e`, part
// of `make test`; build tag e2e keeps it out of the plain `go test ./...`
// run, which would otherwise boot a second container). It boots this
// machine's own root in a systemd-nspawn container with throwaway
// overlays on /usr, /etc and /var and no network, installs the package
// with dpkg -i and drives wad as an admin would. It needs root; the
// container is always killed, and the files nspawn leaves in /run are
// removed.

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/wad-project/wad/internal/syncbuf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// e2eBound bounds the whole test, boot to teardown.
const e2eBound = 8 * time.Minute

// share is where the test's files appear inside the container.
const share = "/mnt/wad-e2e"

// container is a booted systemd in a systemd-nspawn container.
type container struct {
	t       *testing.T
	ctx     context.Context
	nspawn  *exec.Cmd
	exited  chan struct{}
	init    int // the container's systemd, as a host pid
	console *syncbuf.Buffer
}

// nspawnLeftovers are paths systemd-nspawn creates on the host and does
// not remove; the test removes those that did not exist before it.
var nspawnLeftovers = []string{"/run/systemd/nspawn", "/run/systemd/nspawn-root"}

// boot starts the container and waits until its systemd has booted.
// t.Cleanup kills it (SIGKILL to its init ends every process in it) and
// removes what nspawn left in /run.
func boot(ctx context.Context, t *testing.T, dir string) *container {
	t.Helper()
	var existed []bool
	for _, p := range nspawnLeftovers {
		_, err := os.Lstat(p)
		existed = append(existed, err == nil)
	}
	c := &container{t: t, ctx: ctx, exited: make(chan struct{}), console: &syncbuf.Buffer{}}
	name := fmt.Sprintf("wad-e2e-%d", os.Getpid())
	c.nspawn = exec.Command("systemd-nspawn",
		"--quiet", "--register=no", "--keep-unit", "--machine="+name,
		"--volatile=yes", "--overlay=/usr::/usr", "--overlay=/etc::/etc", "--overlay=/var::/var",
		"--private-network", "--console=passive",
		"--bind-ro="+dir+":"+share,
		"-D", "/", "-b",
		// Boot no further than basic.target: none of the host's own
		// services, only what the test starts.
		"systemd.unit=basic.target")
	c.nspawn.Stdout, c.nspawn.Stderr = c.console, c.console
	c.nspawn.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.nspawn.Start(); err != nil {
		t.Fatalf("systemd-nspawn: %v", err)
	}
	go func() { c.nspawn.Wait(); close(c.exited) }()
	t.Cleanup(func() {
		c.kill()
		for i, p := range nspawnLeftovers {
			if !existed[i] {
				if err := os.RemoveAll(p); err != nil {
					t.Errorf("removing %s: %v", p, err)
				}
			}
		}
		if _, err := os.Lstat("/run/wad"); err == nil {
			t.Error("/run/wad exists on the host after the test")
		}
		if out, err := exec.Command("getent", "passwd", "wad").Output(); err == nil {
			t.Errorf("user wad exists on the host after the test: %s", out)
		}
	})

	deadline := time.Now().Add(30 * time.Second)
	for c.init == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no systemd in the container after 30s; console:\n%s", c.console)
		}
		select {
		case <-c.exited:
			t.Fatalf("systemd-nspawn exited: %v; console:\n%s", c.nspawn.ProcessState, c.console)
		case <-time.After(100 * time.Millisecond):
		}
		c.init = findInit(c.nspawn.Process.Pid)
	}
	// systemctl says "offline" until systemd has set up /run/systemd, then
	// fails until its private bus socket exists.
	var state string
	var err error
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var out string
		out, err = c.run("systemctl", "is-system-running", "--wait")
		state = strings.TrimSpace(out)
		if !strings.Contains(state, "Failed to connect to bus") && state != "offline" {
			break
		}
	}
	if state != "running" && state != "degraded" {
		t.Fatalf("container did not boot: %q %v\nconsole:\n%s\njournal:\n%s", state, err, c.console, c.mustRun("journalctl", "-b", "--no-pager", "-n", "60"))
	}
	if state == "degraded" {
		t.Logf("container booted degraded (host units failing in a container): %s", c.mustRun("systemctl", "--failed", "--no-legend", "--plain"))
	}
	return c
}

// findInit returns the pid of the systemd that nspawn's process tree
// runs, or 0.
func findInit(pid int) int {
	var walk func(p, depth int) int
	walk = func(p, depth int) int {
		if depth > 3 {
			return 0
		}
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", p))
		for _, task := range tasks {
			data, _ := os.ReadFile(task)
			for _, f := range strings.Fields(string(data)) {
				child, _ := strconv.Atoi(f)
				comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", child))
				if strings.TrimSpace(string(comm)) == "systemd" {
					return child
				}
				if c := walk(child, depth+1); c != 0 {
					return c
				}
			}
		}
		return 0
	}
	return walk(pid, 0)
}

// kill ends the container: SIGKILL to its init takes every process in
// its pid namespace with it; then nspawn exits.
func (c *container) kill() {
	if c.init != 0 {
		syscall.Kill(c.init, syscall.SIGKILL)
	}
	select {
	case <-c.exited:
		return
	case <-time.After(10 * time.Second):
	}
	c.nspawn.Process.Kill()
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		c.t.Errorf("systemd-nspawn (pid %d) did not exit", c.nspawn.Process.Pid)
	}
}

// command returns cmd run inside the container (all its namespaces), as
// root, with a plain environment.
func (c *container) command(args ...string) *exec.Cmd {
	cmd := exec.CommandContext(c.ctx, "nsenter", append([]string{"-t", strconv.Itoa(c.init), "-a", "--"}, args...)...)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8",
		"SYSTEMD_PAGER=", "SYSTEMD_COLORS=0", "TERM=dumb", "HOME=/root"}
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// run runs a command in the container and returns its combined output.
func (c *container) run(args ...string) (string, error) {
	out, err := c.command(args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// mustRun runs a command in the container; failing, it fails the test.
func (c *container) mustRun(args ...string) string {
	c.t.Helper()
	out, err := c.run(args...)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

// sh runs a shell script in the container.
func (c *container) sh(script string) (string, error) { return c.run("sh", "-ec", script) }

// show returns a unit property.
func (c *container) show(unit, prop string) string {
	c.t.Helper()
	return strings.TrimSpace(c.mustRun("systemctl", "show", "-p", prop, "--value", unit))
}

// waitFor polls cond every 200ms until it returns "" or d passes; then it
// fails the test with cond's last answer.
func (c *container) waitFor(d time.Duration, what string, cond func() string) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for {
		why := cond()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: not after %s: %s\njournal:\n%s", what, d, why, c.journal())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// journal returns the recent log of the wad units.
func (c *container) journal() string {
	out, _ := c.run("journalctl", "--no-pager", "-n", "80", "-u", "wad.service", "-u", "wad.socket")
	return out
}

// status is what the test reads of `wactl --json status`.
type status struct {
	PID         int `json:"pid"`
	MaxSessions int `json:"max_sessions"`
}

func (c *container) status(t *testing.T) status {
	t.Helper()
	out, err := c.command("wactl", "--json", "status").Output()
	if err != nil {
		t.Fatalf("wactl --json status: %v\n%s", err, out)
	}
	var s status
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("wactl --json status: %v\n%s", err, out)
	}
	return s
}

func (c *container) mainPID() int {
	c.t.Helper()
	n, _ := strconv.Atoi(c.show("wad.service", "MainPID"))
	return n
}

// TestE2E installs the .deb into a booted systemd and checks, in order,
// what an admin relies on. Each step names the failure it prevents.
func TestE2E(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("the e2e test boots a systemd container: run it as root (make e2e does in CI)")
	}
	need(t, "systemd-nspawn", "nsenter", "dpkg-deb")
	begin := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), e2eBound)
	defer cancel()
	b := packages(t)

	dir := filepath.Join(scratch, "e2e")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := run("", nil, "cp", b.res.Deb, filepath.Join(dir, "wad.deb")); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"chromium", "webfake"} {
		if _, err := run(filepath.Join(repoRoot, "packaging"), []string{"CGO_ENABLED=0"}, "go", "build", "-o", filepath.Join(dir, cmd), "./testdata/"+cmd); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "web"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"index.html", "fake.js"} {
		if _, err := run("", nil, "cp", filepath.Join(repoRoot, "sessions/chromedp/testdata", f), filepath.Join(dir, "web", f)); err != nil {
			t.Fatal(err)
		}
	}

	forgetCgroups(t)
	c := boot(ctx, t, dir)
	containerOf[t] = c
	t.Logf("container booted in %s", time.Since(begin).Round(time.Millisecond))

	// Install. policy-rc.d (from the host's image) would forbid starting
	// services, as in a chroot; a booted system has none.
	c.mustRun("rm", "-f", "/usr/sbin/policy-rc.d")
	c.controllers(t)
	out := c.mustRun("dpkg", "-i", share+"/wad.deb")
	t.Logf("dpkg -i:\n%s", out)

	step(t, "units active and enabled after install", func(t *testing.T) {
		for _, u := range []string{"wad.socket", "wad.service"} {
			if s := c.show(u, "ActiveState"); s != "active" {
				t.Errorf("%s is %s after dpkg -i\n%s", u, s, c.journal())
			}
			if s := c.show(u, "UnitFileState"); s != "enabled" {
				t.Errorf("%s is %s after dpkg -i, want enabled", u, s)
			}
		}
		if out, err := c.run("systemd-analyze", "verify", "wad.service", "wad.socket"); err != nil || strings.TrimSpace(out) != "" {
			t.Errorf("systemd-analyze verify on the installed units: %v\n%s", err, out)
		}
	})

	step(t, "socket is root:wad 0660", func(t *testing.T) {
		got := strings.TrimSpace(c.mustRun("stat", "-c", "%F %U:%G %a", "/run/wad/wad.sock"))
		if got != "socket root:wad 660" {
			t.Errorf("/run/wad/wad.sock: %q, want \"socket root:wad 660\"", got)
		}
	})

	step(t, "wactl answers group wad and refuses others", func(t *testing.T) {
		c.mustRun("useradd", "--system", "--no-create-home", "--groups", "wad", "e2e-member")
		c.mustRun("useradd", "--system", "--no-create-home", "e2e-outsider")
		out, err := c.run("setpriv", "--reuid=e2e-member", "--regid=e2e-member", "--init-groups", "wactl", "status")
		if err != nil {
			t.Errorf("wactl status as a member of group wad: %v", err)
		} else if !strings.Contains(out, "socket /run/wad/wad.sock") {
			t.Errorf("wactl status as a member of group wad printed:\n%s", out)
		}
		for _, args := range [][]string{{"status"}, {"--socket", "/run/wad/wad.sock", "status"}} {
			out, err = c.run(append([]string{"setpriv", "--reuid=e2e-outsider", "--regid=e2e-outsider", "--init-groups", "wactl"}, args...)...)
			if err == nil {
				t.Errorf("wactl %v as a user outside group wad succeeded:\n%s", args, out)
			} else if !strings.Contains(strings.ToLower(out), "permission denied") {
				t.Errorf("wactl %v as an outsider failed without saying why: %v", args, err)
			}
		}
	})

	step(t, "restart reaps stale Chromium and state", func(t *testing.T) {
		c.mustRun("sh", "-ec", `
			mkdir -p /var/lib/wad/.wwebjs_auth/session-x/Default /var/lib/wad/.wwebjs_cache
			echo stale > /var/lib/wad/.wwebjs_auth/session-x/Default/Cookies
			ln -s vm-1234 /var/lib/wad/.wwebjs_auth/session-x/SingletonLock
			echo '<html>' > /var/lib/wad/.wwebjs_cache/2.3000.0.html
			chown -hR wad:wad /var/lib/wad/.wwebjs_auth /var/lib/wad/.wwebjs_cache`)
		c.mustRun("systemd-run", "--quiet", "--unit=e2e-chromium", "--uid=wad", "--gid=wad",
			share+"/chromium", "--user-data-dir=/var/lib/wad/.wwebjs_auth/session-x", "--headless")
		c.waitFor(10*time.Second, "posing Chromium running", func() string {
			if _, err := c.run("pgrep", "-u", "wad", "-f", "session-x"); err != nil {
				return err.Error()
			}
			return ""
		})
		since := strings.TrimSpace(c.mustRun("date", "+%Y-%m-%d %H:%M:%S"))
		c.mustRun("systemctl", "restart", "wad")
		if out, err := c.run("pgrep", "-a", "-f", "session-x"); err == nil {
			t.Errorf("the stale Chromium survived the restart: %s", out)
		}
		for _, p := range []string{"/var/lib/wad/.wwebjs_auth/session-x", "/var/lib/wad/.wwebjs_cache"} {
			if out, err := c.run("ls", "-d", p); err == nil {
				t.Errorf("%s survived the restart: %s", p, out)
			}
		}
		journal := c.mustRun("journalctl", "--no-pager", "-o", "cat", "-u", "wad.service", "--since", since)
		if !strings.Contains(journal, "Cleaning up session directories and processes on startup") {
			t.Errorf("no reaper start message in the journal:\n%s", journal)
		}
		if !regexp.MustCompile(`reaped \(mode reset\): [1-9][0-9]* processes signalled, [0-9]+ killed, [1-9][0-9]* entries removed`).MatchString(journal) {
			t.Errorf("no reaper summary (1+ processes, 1+ entries) in the journal:\n%s", journal)
		}
		if s := c.show("wad.service", "ActiveState"); s != "active" {
			t.Errorf("wad.service is %s after the restart", s)
		}
	})

	step(t, "200 wactl calls across a restart all answer", func(t *testing.T) {
		before := c.mainPID()
		// Four loops of 50 calls; the restart starts after the first
		// calls, so some connect while no daemon runs and must wait on
		// the socket that wad.socket keeps open.
		out, err := c.sh(`
			loop() {
				i=0
				while [ $i -lt 50 ]; do
					i=$((i+1))
					if out=$(wactl --json status 2>&1); then
						echo "ok $(echo "$out" | tr -d '\n')"
					else
						echo "FAIL $1.$i: $out"
					fi
				done
			}
			loop 1 & loop 2 & loop 3 & loop 4 &
			sleep 0.2
			systemctl restart wad
			wait`)
		if err != nil {
			t.Fatalf("loop: %v", err)
		}
		pids := map[string]int{}
		n := 0
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if js, ok := strings.CutPrefix(line, "ok "); ok {
				var s status
				if err := json.Unmarshal([]byte(js), &s); err != nil || s.PID == 0 {
					t.Errorf("call answered %q: %v", js, err)
					continue
				}
				pids[strconv.Itoa(s.PID)]++
				n++
			} else {
				t.Errorf("%s", line)
			}
		}
		after := c.mainPID()
		t.Logf("%d calls answered; by daemon pid: %v (before %d, after %d)", n, pids, before, after)
		if n != 200 {
			t.Errorf("%d of 200 calls answered\njournal:\n%s", n, c.journal())
		}
		if before == after {
			t.Errorf("MainPID %d unchanged: the restart did not happen", after)
		}
		if pids[strconv.Itoa(after)] == 0 {
			t.Errorf("no call reached the new daemon (pid %d): the loop did not span the restart", after)
		}
	})

	step(t, "kill -9 restarts the daemon once", func(t *testing.T) {
		if n := c.show("wad.service", "NRestarts"); n != "0" {
			t.Fatalf("NRestarts is %s before the kill", n)
		}
		old := c.mainPID()
		c.mustRun("kill", "-9", strconv.Itoa(old))
		c.waitFor(30*time.Second, "wad.service restarted", func() string {
			pid := c.mainPID()
			if st := c.show("wad.service", "ActiveState"); st != "active" || pid == 0 || pid == old {
				return fmt.Sprintf("ActiveState=%s MainPID=%d (killed %d)", st, pid, old)
			}
			return ""
		})
		if n := c.show("wad.service", "NRestarts"); n != "1" {
			t.Errorf("NRestarts=%s, want 1", n)
		}
		if _, err := c.run("wactl", "status"); err != nil {
			t.Errorf("wactl status after the automatic restart: %v", err)
		}
	})

	step(t, "reload applies max_sessions", func(t *testing.T) {
		pid := c.mainPID()
		if s := c.status(t); s.MaxSessions != 0 {
			t.Fatalf("max_sessions is %d before the change", s.MaxSessions)
		}
		c.mustRun("sed", "-i", "s/^max_sessions = 0$/max_sessions = 7/", "/etc/wad/wad.toml")
		c.mustRun("grep", "-q", "^max_sessions = 7$", "/etc/wad/wad.toml")
		c.mustRun("systemctl", "reload", "wad")
		c.waitFor(15*time.Second, "max_sessions 7 after reload", func() string {
			if s := c.status(t); s.MaxSessions != 7 {
				return fmt.Sprintf("max_sessions %d", s.MaxSessions)
			}
			return ""
		})
		if now := c.mainPID(); now != pid {
			t.Errorf("reload replaced the daemon (pid %d -> %d)", pid, now)
		}
		if st := c.show("wad.service", "ActiveState"); st != "active" {
			t.Errorf("wad.service is %s after reload", st)
		}
	})

	step(t, "wactl doctor: healthy, then a caller outside group wad and a state dir owned by root", func(t *testing.T) { doctorHealthyStep(t, c) })

	step(t, "journal entries carry WAD_CLIENT, WAD_BACKEND and WAD_STATE", func(t *testing.T) {
		// The container has no network; the proxy on a closed loopback
		// port makes the failure immediate and keeps it local.
		c.mustRun("sed", "-i", `s|^proxy = ""$|proxy = "http://127.0.0.1:9"|`, "/etc/wad/wad.toml")
		c.mustRun("grep", "-q", `^proxy = "http://127.0.0.1:9"$`, "/etc/wad/wad.toml")
		c.mustRun("systemctl", "restart", "wad")
		out, err := c.run("wactl", "login", "sales", "--no-wait")
		if err == nil || !strings.Contains(out, "could not reach WhatsApp") {
			t.Fatalf("offline login: %v\n%s", err, out)
		}
		c.waitFor(15*time.Second, "a structured journal entry for sales", func() string {
			got, _ := c.run("journalctl", "--no-pager", "-o", "cat", "-u", "wad.service",
				"WAD_CLIENT=sales", "WAD_BACKEND=whatsmeow", "WAD_STATE=failed")
			if !strings.Contains(got, "session state changed") {
				return "journalctl WAD_CLIENT=sales WAD_BACKEND=whatsmeow WAD_STATE=failed: " + got
			}
			return ""
		})
	})

	step(t, "a browser over memory_max fails alone with memory_limit", func(t *testing.T) { limitsStep(t, c) })

	step(t, "wactl doctor names a missing Chromium and a corrupted store", func(t *testing.T) { doctorBrokenStep(t, c) })

	step(t, "upgrade keeps the daemon unless opted in", func(t *testing.T) {
		pid := c.mainPID()
		out := c.mustRun("dpkg", "-i", share+"/wad.deb")
		if !strings.Contains(out, "wad.service was not restarted") {
			t.Errorf("the upgrade did not say that it kept the daemon:\n%s", out)
		}
		if now := c.mainPID(); now != pid {
			t.Errorf("the upgrade restarted wad without the opt-in (pid %d -> %d)", pid, now)
		}
		if got := c.mustRun("grep", "-c", "^max_sessions = 7$", "/etc/wad/wad.toml"); strings.TrimSpace(got) != "1" {
			t.Error("the upgrade replaced the changed /etc/wad/wad.toml")
		}
		c.mustRun("sed", "-i", "s/^RESTART_ON_UPGRADE=.*/RESTART_ON_UPGRADE=yes/", "/etc/default/wad")
		out = c.mustRun("dpkg", "-i", share+"/wad.deb")
		if !strings.Contains(out, "restarting wad.service") {
			t.Errorf("the opted-in upgrade did not say it restarts:\n%s", out)
		}
		if now := c.mainPID(); now == pid || now == 0 {
			t.Errorf("the opted-in upgrade did not restart wad (pid %d -> %d)", pid, now)
		}
	})

	step(t, "purge removes enablement, config and state, keeps the user", func(t *testing.T) {
		out := c.mustRun("dpkg", "--purge", "wad")
		t.Logf("dpkg --purge:\n%s", out)
		for _, u := range []string{"wad.socket", "wad.service"} {
			if s := c.show(u, "ActiveState"); s == "active" {
				t.Errorf("%s still active after purge", u)
			}
		}
		if out, err := c.sh("ls /etc/systemd/system/*/wad.* /etc/systemd/system/wad.* 2>/dev/null"); err == nil {
			t.Errorf("enablement links left after purge:\n%s", out)
		}
		for _, p := range []string{"/etc/wad", "/var/lib/wad", "/run/wad/wad.sock", "/etc/default/wad", "/usr/bin/wad"} {
			if out, err := c.run("ls", "-d", p); err == nil {
				t.Errorf("%s left after purge: %s", p, out)
			}
		}
		if _, err := c.run("getent", "passwd", "wad"); err != nil {
			t.Error("purge removed the system user wad")
		}
		if _, err := c.run("getent", "group", "wad"); err != nil {
			t.Error("purge removed the group wad")
		}
	})
	t.Logf("e2e took %s", time.Since(begin).Round(time.Millisecond))
}

// containerOf lets step point a container's failures at the subtest.
var containerOf = map[*testing.T]*container{}

// step runs one named check; a failed check does not stop the ones after
// it unless it leaves the container unusable (then they fail too).
func step(t *testing.T, name string, f func(t *testing.T)) {
	t.Helper()
	start := time.Now()
	t.Run(name, func(st *testing.T) {
		c := containerOf[t]
		prev := c.t
		c.t = st
		defer func() { c.t = prev }()
		f(st)
	})
	t.Logf("%s: %s", name, time.Since(start).Round(time.Millisecond))
}
