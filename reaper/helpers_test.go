package reaper

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	ps "github.com/mitchellh/go-ps"
	"github.com/wad-project/wad/internal/chromeproc"
	"golang.org/x/sys/unix"
)

const chromiumPath = "/usr/bin/chromium"

// helperEnv makes the test binary a stand-in process: a non-Chrome
// executable that sleeps with whatever arguments it was given.
const helperEnv = "REAPER_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "sleep" {
		time.Sleep(10 * time.Minute)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// chromeFlags start a headless Chromium that stays quiet: no network
// beyond what about:blank needs (none), no first-run UI.
var chromeFlags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
	"--disable-component-update", "--no-first-run", "--disable-sync", "--no-default-browser-check",
}

// tracked is a process a test started (or found in a tree it started),
// held by pidfd so that later checks and the cleanup kill can never hit
// a reused pid.
type tracked struct {
	pid int
	fd  int
}

func (p tracked) alive() bool {
	fds := []unix.PollFd{{Fd: int32(p.fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n == 0
}

// chrome is a real Chromium browser a test started.
type chrome struct {
	cmd     *exec.Cmd
	pid     int
	profile string
	tree    []tracked     // the browser and every descendant, once ready
	done    chan struct{} // closed when the main process was reaped
	state   *os.ProcessState
	killed  sync.Once
}

// chromeOpts says how to start a browser.
type chromeOpts struct {
	profile string // the --user-data-dir value as passed
	dir     string // working directory; "" for the test's
	uid     int    // run as this uid (and gid) when non-zero
	home    string // $HOME; a fresh temp dir when ""
}

// startChromes starts browsers concurrently and waits until each has a
// renderer (so the zygotes, GPU, network and renderer processes exist).
// Cleanup SIGKILLs whatever is left of them.
func startChromes(t testing.TB, opts ...chromeOpts) []*chrome {
	t.Helper()
	out := make([]*chrome, len(opts))
	errs := make([]error, len(opts))
	// Generous: the machine may be shared and have 2 cores.
	limit := 90*time.Second + 3*time.Second*time.Duration(len(opts))
	var wg sync.WaitGroup
	for i, o := range opts {
		if o.home == "" {
			o.home = t.TempDir()
			if o.uid != 0 {
				if err := os.Chown(o.home, o.uid, o.uid); err != nil {
					t.Fatal(err)
				}
			}
		}
		c, err := launchChrome(t, o)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.waitReady(limit)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return out
}

func launchChrome(t testing.TB, o chromeOpts) (*chrome, error) {
	args := append(append([]string{}, chromeFlags...), "--user-data-dir="+o.profile, "about:blank")
	cmd := exec.Command(chromiumPath, args...)
	cmd.Dir = o.dir
	if logf := os.Getenv("REAPER_TEST_CHROME_LOG"); logf != "" {
		f, err := os.OpenFile(logf, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err == nil {
			cmd.Stdout, cmd.Stderr = f, f
			t.Cleanup(func() { f.Close() })
		}
	}
	cmd.Env = append(os.Environ(), "HOME="+o.home)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if o.uid != 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(o.uid), Gid: uint32(o.uid)}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting chromium: %w", err)
	}
	c := &chrome{cmd: cmd, pid: cmd.Process.Pid, profile: o.profile, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		c.state = cmd.ProcessState
		close(c.done)
	}()
	t.Cleanup(func() { c.kill(t) })
	return c, nil
}

// waitReady waits for a renderer below the browser, then records the
// whole tree.
func (c *chrome) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-c.done:
			return fmt.Errorf("chromium on %s exited early: %v", c.profile, c.state)
		default:
		}
		tree := descendants(c.pid)
		for _, pid := range tree {
			if args := cmdline(pid); strings.Contains(strings.Join(args, " "), "--type=renderer") {
				return c.track(tree)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("chromium on %s: no renderer after %s", c.profile, limit)
}

func (c *chrome) track(pids []int) error {
	for _, pid := range pids {
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			return fmt.Errorf("pidfd_open %d: %w", pid, err)
		}
		c.tree = append(c.tree, tracked{pid: pid, fd: fd})
	}
	return nil
}

// kill SIGKILLs every tracked process and any process still naming the
// profile, then waits for the main process to be reaped.
// kill ends the browser and closes its pidfds; calls after the first do
// nothing.
func (c *chrome) kill(t testing.TB) {
	c.killed.Do(func() { c.killOnce(t) })
}

func (c *chrome) killOnce(t testing.TB) {
	for _, p := range c.tree {
		unix.PidfdSendSignal(p.fd, unix.SIGKILL, nil, 0)
	}
	killMentioning(c.profile)
	c.cmd.Process.Kill()
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		t.Errorf("chromium %d not reaped", c.pid)
	}
	for _, p := range c.tree {
		unix.Close(p.fd)
	}
}

// gone reports the processes of the tree still running.
func (c *chrome) running() []int {
	var pids []int
	for _, p := range c.tree {
		if p.alive() {
			pids = append(pids, p.pid)
		}
	}
	return pids
}

// killMentioning SIGKILLs (by pidfd) every process whose command line
// contains s. Only test cleanup uses it, with paths unique to one test.
func killMentioning(s string) {
	for _, pid := range mentioning(s) {
		if fd, err := unix.PidfdOpen(pid, 0); err == nil {
			if strings.Contains(strings.Join(cmdline(pid), " "), s) {
				unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
			}
			unix.Close(fd)
		}
	}
}

// mentioning lists the live processes whose command line contains s.
func mentioning(s string) []int {
	all, _ := ps.Processes()
	var pids []int
	for _, p := range all {
		if st, err := chromeproc.Stat(p.Pid()); err != nil || st.State == 'Z' {
			continue
		}
		if strings.Contains(strings.Join(cmdline(p.Pid()), " "), s) {
			pids = append(pids, p.Pid())
		}
	}
	sort.Ints(pids)
	return pids
}

func cmdline(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

// descendants returns pid and all its live descendants.
func descendants(pid int) []int {
	all, _ := ps.Processes()
	kids := make(map[int][]int)
	for _, p := range all {
		if st, err := chromeproc.Stat(p.Pid()); err == nil && st.State != 'Z' {
			kids[p.PPid()] = append(kids[p.PPid()], p.Pid())
		}
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, kids[out[i]]...)
	}
	return out
}

// startHelper starts the test binary as a sleeping non-Chrome process
// with the given argv (argv[0] included, so it can pose as "chromium").
func startHelper(t testing.TB, argv ...string) tracked {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := &exec.Cmd{Path: self, Args: argv, Env: append(os.Environ(), helperEnv+"=sleep"),
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	fd, err := unix.PidfdOpen(cmd.Process.Pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
		<-done
		unix.Close(fd)
	})
	return tracked{pid: cmd.Process.Pid, fd: fd}
}

// deadPID returns the pid of a process that has exited and been reaped.
func deadPID(t testing.TB) int {
	t.Helper()
	cmd := exec.Command("/bin/true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// listing describes every entry below root, one line each: the relative
// path, its type, and a symlink's target or a regular file's contents
// (its size, past 64 bytes).
func listing(t testing.TB, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if rel == ReportFile { // each Run's own report (report_test.go)
			return nil
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(path)
			out = append(out, rel+" -> "+target)
		case d.IsDir():
			out = append(out, rel+"/")
		default:
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if len(b) > 64 {
				out = append(out, fmt.Sprintf("%s = %d bytes", rel, len(b)))
			} else {
				out = append(out, rel+" = "+string(b))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// write creates files (content = their name unless given) and symlinks
// ("link -> target" keys) below root.
func write(t testing.TB, root string, entries ...string) {
	t.Helper()
	for _, e := range entries {
		if name, target, ok := strings.Cut(e, " -> "); ok {
			p := filepath.Join(root, name)
			mkdirs(t, filepath.Dir(p))
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		p := filepath.Join(root, e)
		if strings.HasSuffix(e, "/") {
			mkdirs(t, p)
			continue
		}
		mkdirs(t, filepath.Dir(p))
		if err := os.WriteFile(p, []byte(filepath.Base(e)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func mkdirs(t testing.TB, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}
