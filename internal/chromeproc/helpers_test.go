package chromeproc

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes the test binary a stand-in process: "sleep" sleeps with
// whatever arguments it was given, "fork" first starts a copy of itself as
// a child ("--type=renderer", no --user-data-dir) and prints its pid,
// "rename" names itself "a) S 1 2 (b" and sleeps, and "exit" exits at once.
const helperEnv = "CHROMEPROC_TEST_HELPER"

// fakeChrome is a copy of the test binary named chromium: to the kernel
// (/proc/PID/exe) it is a Chrome executable. A symlink would not do: exe
// names the link's target.
var fakeChrome string

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "sleep":
		time.Sleep(10 * time.Minute)
		os.Exit(0)
	case "fork":
		child := exec.Command("/proc/self/exe", "--type=renderer")
		child.Args[0] = os.Args[0]
		child.Env = append(os.Environ(), helperEnv+"=sleep")
		if err := child.Start(); err != nil {
			os.Exit(3)
		}
		fmt.Println(child.Process.Pid)
		time.Sleep(10 * time.Minute)
		os.Exit(0)
	case "exit":
		os.Exit(0)
	case "rename":
		// go-ps's parser stops at the first ')' of the command name.
		if err := os.WriteFile("/proc/self/comm", []byte("a) S 1 2 (b"), 0); err != nil {
			os.Exit(3)
		}
		time.Sleep(10 * time.Minute)
		os.Exit(0)
	}
	os.Exit(run(m))
}

// run copies the test binary to fakeChrome, in a directory everyone may
// enter, before any test forks (a file open for writing during a fork
// would make exec fail with ETXTBSY).
func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "chromeproc-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fakeChrome = filepath.Join(dir, "chromium")
	if err := copyFile(fakeChrome); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	return m.Run()
}

func copyFile(dst string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	in, err := os.Open(self)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// helper is a stand-in process a test started.
type helper struct {
	pid   int
	child int // with mode "fork": the child's pid
	cmd   *exec.Cmd
}

// helperOpts says how to start a stand-in.
type helperOpts struct {
	exe  string   // the executable; fakeChrome when ""
	args []string // argv, argv[0] included
	mode string   // "sleep" when ""
	dir  string   // working directory
	uid  int      // run as this uid (and gid) when non-zero
}

// start starts a stand-in in its own process group and kills that group
// when the test ends. A mode "exit" helper is not waited for until then,
// so it stays a zombie.
func start(t *testing.T, o helperOpts) *helper {
	t.Helper()
	if o.exe == "" {
		o.exe = fakeChrome
	}
	if o.mode == "" {
		o.mode = "sleep"
	}
	cmd := &exec.Cmd{Path: o.exe, Args: o.args, Dir: o.dir, Env: append(os.Environ(), helperEnv+"="+o.mode),
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}}
	if o.uid != 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(o.uid), Gid: uint32(o.uid)}
	}
	var out io.ReadCloser
	if o.mode == "fork" {
		var err error
		if out, err = cmd.StdoutPipe(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helper{pid: cmd.Process.Pid, cmd: cmd}
	t.Cleanup(func() {
		syscall.Kill(-h.pid, syscall.SIGKILL)
		cmd.Wait()
	})
	if out != nil {
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			t.Fatalf("fork helper: %v", err)
		}
		if h.child, err = strconv.Atoi(line[:len(line)-1]); err != nil {
			t.Fatal(err)
		}
	}
	// Wait until the exec happened (the stat line then shows the new
	// executable) or, for "exit", until it is a zombie.
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, err := Stat(h.pid)
		exe, _ := os.Readlink("/proc/" + strconv.Itoa(h.pid) + "/exe")
		if o.mode == "exit" && err == nil && p.State == 'Z' || o.mode != "exit" && exe == o.exe {
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("helper %v did not come up: %+v %v %q", o.args, p, err, exe)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// deadPID returns the pid of a process that has exited and been reaped.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("/bin/true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// openDirs makes a directory tree other users may enter: t.TempDir and
// its parent are 0700.
func openDirs(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{root, filepath.Dir(root)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func mkdirs(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func pids(cs []Chrome) map[int]Chrome {
	m := make(map[int]Chrome, len(cs))
	for _, c := range cs {
		m[c.PID] = c
	}
	return m
}
