package cgroup

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// childEnv switches the test binary into one of the child roles below.
const childEnv = "WAD_CGROUP_TEST_CHILD"

// TestMain lets the test binary run as the processes the tests put into
// cgroups.
func TestMain(m *testing.M) {
	if role := os.Getenv(childEnv); role != "" {
		child(role)
		return
	}
	os.Exit(m.Run())
}

// child plays a role. Every role first waits for a line on stdin, so the
// test can move it into a group before it does anything:
//
//	hog:   allocate and touch memory until killed
//	spin:  burn CPU for 300ms and hold 16 MiB, print "done", wait for EOF
//	fork:  start a "sleep" child, print its pid, wait for EOF
//	sleep: sleep an hour
func child(role string) {
	in := bufio.NewReader(os.Stdin)
	if role != "sleep" {
		in.ReadString('\n')
	}
	switch role {
	case "hog":
		var keep [][]byte
		for {
			b := make([]byte, 1<<20)
			for i := range b {
				b[i] = byte(i)
			}
			keep = append(keep, b)
		}
	case "spin":
		end := time.Now().Add(300 * time.Millisecond)
		x := 0
		for time.Now().Before(end) {
			x++
		}
		hold := make([]byte, 16<<20)
		for i := range hold {
			hold[i] = byte(x + i)
		}
		fmt.Println("done")
		io.Copy(io.Discard, in)
		_ = hold[len(hold)-1]
	case "fork":
		c := exec.Command(os.Args[0])
		c.Env = append(os.Environ(), childEnv+"=sleep")
		if err := c.Start(); err != nil {
			panic(err)
		}
		fmt.Println(c.Process.Pid)
		io.Copy(io.Discard, in)
	case "sleep":
		time.Sleep(time.Hour)
	}
	os.Exit(0)
}

// proc is a child started by startChild.
type proc struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
	done chan error
}

func startChild(t *testing.T, role string, attr *syscall.SysProcAttr) *proc {
	t.Helper()
	c := exec.Command(os.Args[0], "-test.run=^$")
	c.Env = append(os.Environ(), childEnv+"="+role)
	c.SysProcAttr = attr
	in, err := c.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: c, in: in, out: bufio.NewReader(out), done: make(chan error, 1)}
	go func() { p.done <- c.Wait() }()
	t.Cleanup(func() {
		c.Process.Kill()
		in.Close()
		<-p.done
	})
	return p
}

// go tells the child to start its role.
func (p *proc) start(t *testing.T) {
	t.Helper()
	if _, err := io.WriteString(p.in, "go\n"); err != nil {
		t.Fatal(err)
	}
}

func (p *proc) line(t *testing.T) string {
	t.Helper()
	s, err := p.out.ReadString('\n')
	if err != nil {
		t.Fatalf("child output: %v", err)
	}
	return strings.TrimSpace(s)
}

// wait returns how the child ended, failing after d.
func (p *proc) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(d):
		t.Fatalf("child %d still runs after %v", p.cmd.Process.Pid, d)
		return nil
	}
}

func (p *proc) running() bool {
	select {
	case err := <-p.done:
		p.done <- err
		return false
	default:
		return true
	}
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the test makes real cgroups under its own")
	}
}

var scratchN atomic.Int32

// scratchV1 makes the cgroup <own memory cgroup>/wadtest-<pid>-<n><suffix>
// in every v1 hierarchy (the same relative path in each, as systemd
// makes a unit's, creating the parents where this process sits
// elsewhere) and removes what it made when the test ends. It returns the
// relative path.
func scratchV1(t *testing.T, suffix string) string {
	t.Helper()
	needRoot(t)
	raw, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	m, err := parseMembership(raw)
	if err != nil {
		t.Fatal(err)
	}
	h := realHost()
	if h.version(m) != 1 {
		t.Skip("this host is not on cgroup v1 or hybrid")
	}
	rel := filepath.Join(m.v1["memory"], fmt.Sprintf("wadtest-%d-%d%s", os.Getpid(), scratchN.Add(1), suffix))
	var made []string
	t.Cleanup(func() {
		for _, d := range slices.Backward(made) {
			if b, err := os.ReadFile(filepath.Join(d, "cgroup.procs")); err == nil {
				for _, f := range strings.Fields(string(b)) {
					if pid, _ := strconv.Atoi(f); pid > 0 && pid != os.Getpid() {
						syscall.Kill(pid, syscall.SIGKILL)
					}
				}
			}
			for i := 0; i < 200 && syscall.Rmdir(d) == syscall.EBUSY; i++ {
				time.Sleep(10 * time.Millisecond)
			}
		}
	})
	for _, hi := range h.v1Hierarchies() {
		p := hi.mount
		for _, el := range strings.Split(strings.Trim(rel, "/"), "/") {
			p = filepath.Join(p, el)
			if err := os.Mkdir(p, 0o755); err == nil {
				made = append(made, p)
			} else if !os.IsExist(err) {
				t.Fatal(err)
			}
		}
	}
	return rel
}

// cgroupOf returns pid's /proc/<pid>/cgroup lines by controller ("" for
// the unified one).
func cgroupOf(t *testing.T, pid int) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	m, err := parseMembership(raw)
	if err != nil {
		t.Fatal(err)
	}
	m.v1[""] = m.unified
	return m.v1
}

// gone reports whether pid has exited and been reaped (or is a zombie)
// within d.
func gone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return true
		}
		if i := strings.LastIndexByte(string(b), ')'); i > 0 && strings.HasPrefix(string(b[i+1:]), " Z") {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}
