package whatsmeow_test

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/wad-project/wad/internal/syncbuf"
	"github.com/wad-project/wad/internal/wafake"
)

// fakeChildEnv, set to 1, makes the test binary the fake WhatsApp
// server of a benchmark (TestMain checks it first): a process of its
// own, so that the memory measured in the benchmark's process is wad's
// alone.
const fakeChildEnv = "WAFAKE_CHILD"

// serveRemoteFake is the child's main: a wafake.Server driven over
// stdin and stdout until stdin closes. It returns the exit code.
func serveRemoteFake() int {
	if err := wafake.ServeRemote(os.Stdin, os.Stdout, wafake.Options{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// startRemoteFake re-executes the test binary as a fake WhatsApp server
// in a child process (running no tests) and returns its control; the
// child ends with tb. Its stderr is shown if it fails.
func startRemoteFake(tb testing.TB) *wafake.Remote {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), fakeChildEnv+"=1")
	stderr := &syncbuf.Buffer{}
	cmd.Stderr = stderr
	rm, err := wafake.StartRemote(cmd)
	if err != nil {
		tb.Fatalf("starting the fake WhatsApp server process: %v\n%s", err, stderr)
	}
	tb.Cleanup(func() {
		if err := rm.Close(); err != nil {
			tb.Errorf("the fake WhatsApp server process: %v\n%s", err, stderr)
		}
	})
	return rm
}
