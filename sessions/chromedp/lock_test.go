package chromedp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/sessions"
)

// Prevents: a crashed browser's SingletonLock blocking every later
// launch on its profile ("profile in use" forever).
func TestStaleSingletonRemoved(t *testing.T) {
	t.Parallel()
	f := newFakeWA(t)
	e := newEnv(t, "", Config{WebURL: f.url("")})
	profile := ProfileDir(e.stateDir, "stale")
	if err := os.MkdirAll(profile, 0o700); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	// A pid that is not running: our own child, already reaped.
	c := exec.Command("true")
	if err := c.Run(); err != nil {
		t.Fatal(err)
	}
	dead := c.Process.Pid
	for name, target := range map[string]string{
		"SingletonLock":   fmt.Sprintf("%s-%d", host, dead),
		"SingletonSocket": "/tmp/nonexistent-dir/SingletonSocket",
		"SingletonCookie": "123456",
	} {
		if err := os.Symlink(target, filepath.Join(profile, name)); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := e.loginQR("stale")
	if st.PID == dead {
		t.Fatal("pid reuse made the test meaningless")
	}
}

// Prevents: wad touching the profile of a live browser it does not own
// (e.g. one started by hand); the login must fail naming that process.
func TestLiveForeignBrowserIsNotTouched(t *testing.T) {
	t.Parallel()
	f := newFakeWA(t)
	e := newEnv(t, "", Config{WebURL: f.url("")})
	profile := ProfileDir(e.stateDir, "foreign")
	path, err := Config{}.chromePath()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--user-data-dir="+profile, "about:blank")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Readlink(filepath.Join(profile, "SingletonLock")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the foreign browser never created its SingletonLock")
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, err = e.reg.Login(context.Background(), "foreign", sessions.LoginOptions{})
	if codeOf(err) != ctl.CodeBackendUnavailable || !strings.Contains(err.Error(), "pid "+strconv.Itoa(cmd.Process.Pid)) {
		t.Fatalf("login on a profile a foreign browser uses: %v, want -32003 naming pid %d", err, cmd.Process.Pid)
	}
	if st, _ := e.reg.Get("foreign"); st.Reason != ctl.ReasonProfileLocked {
		t.Errorf("state %+v, want failed/profile_locked", st)
	}
	if _, err := os.Readlink(filepath.Join(profile, "SingletonLock")); err != nil {
		t.Errorf("the live browser's SingletonLock was touched: %v", err)
	}
	if mains := browserMains(profile); len(mains) != 1 || mains[0] != cmd.Process.Pid {
		t.Errorf("browsers on the profile: %v, want only the foreign %d", mains, cmd.Process.Pid)
	}
}

// Prevents: session.stop during a slow start leaving a browser behind or
// the session reported failed.
func TestStopDuringStart(t *testing.T) {
	t.Parallel()
	f := newFakeWA(t)
	e := newEnv(t, "", Config{WebURL: f.url("hang")})
	done := make(chan error, 1)
	go func() {
		_, err := e.reg.Login(context.Background(), "halted", sessions.LoginOptions{})
		done <- err
	}()
	for e.session("halted") == nil || e.session("halted").current() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	st, err := e.reg.Stop(context.Background(), "halted")
	if err != nil {
		t.Fatal(err)
	}
	if st.State != ctl.StateStopped {
		t.Errorf("after stop during start: %+v, want stopped", st)
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("login did not return after stop")
	}
	waitNoProcesses(t, e.session("halted").Profile(), 10*time.Second)
}

// Prevents: clearStaleSingletons removing another host's lock, or keeping
// a garbled lock or lone Singleton files that would stop Chromium.
func TestClearStaleSingletonsVerdicts(t *testing.T) {
	t.Parallel()
	host, _ := os.Hostname()
	for _, c := range []struct {
		name   string
		lock   string // SingletonLock target; "" for none
		locked bool
	}{
		{"another host", "not-" + host + "-1", true},
		{"garbled", "no pid here", false},
		{"no lock, lone cookie", "", false},
	} {
		dir := t.TempDir()
		if c.lock != "" {
			if err := os.Symlink(c.lock, filepath.Join(dir, "SingletonLock")); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Symlink("42", filepath.Join(dir, "SingletonCookie")); err != nil {
			t.Fatal(err)
		}
		removed, err := clearStaleSingletons(dir)
		if got := errors.Is(err, errProfileLocked); got != c.locked || removed == c.locked || (!c.locked && err != nil) {
			t.Errorf("%s: removed %v, err %v; want locked %v", c.name, removed, err, c.locked)
		}
		if _, err := os.Lstat(filepath.Join(dir, "SingletonCookie")); os.IsNotExist(err) == c.locked {
			t.Errorf("%s: SingletonCookie kept %v, want %v", c.name, !os.IsNotExist(err), c.locked)
		}
	}
}
