package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon"
	"github.com/wad-project/wad/sessions"
)

// TestCallsAcrossRestartsOnAnActivatedSocketAllAnswer is `systemctl
// restart wad` under load, in miniature: the test holds a listening
// socket as systemd's wad.socket does, and runs daemons one after the
// other on it as child processes (the real activation path), each ended
// by SIGTERM while eight clients call wad.status on fresh connections
// without pause. Every call must be answered, by one daemon or the next:
// a shutting-down daemon answers what it has read and stops reading
// (docs/wire.md); what it did not read waits in the socket, or is sent
// again by the client, for the next daemon.
func TestCallsAcrossRestartsOnAnActivatedSocketAllAnswer(t *testing.T) {
	if state := os.Getenv("WAD_RESTART_CHILD"); state != "" {
		restartChild(state)
		return
	}
	dir, err := os.MkdirTemp("", "wad")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "wad.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	sock, err := l.(*net.UnixListener).File()
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	defer sock.Close()

	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCallsAcrossRestartsOnAnActivatedSocketAllAnswer$")
		cmd.Env = append(os.Environ(), "WAD_RESTART_CHILD="+filepath.Join(dir, "state"), "LISTEN_FDS=1")
		cmd.ExtraFiles = []*os.File{sock} // fd 3
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	stop := func(cmd *exec.Cmd) {
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Errorf("daemon %d: %v", cmd.Process.Pid, err)
		}
	}

	const workers, calls, restarts = 8, 150, 4
	var (
		mu       sync.Mutex
		answered = map[int]int{} // by daemon pid
		failed   []error
	)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range calls {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				c := &ctl.Client{Socket: path}
				st, err := c.Status(ctx)
				c.Close()
				cancel()
				mu.Lock()
				if err != nil {
					failed = append(failed, fmt.Errorf("worker %d call %d: %w", w, i, err))
				} else {
					answered[st.PID]++
				}
				mu.Unlock()
			}
		})
	}
	total := func() (n int) {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range answered {
			n += c
		}
		return n + len(failed)
	}
	cmd := start()
	for r := 1; r <= restarts; r++ {
		// Restart once the calls are under way, spread over the run.
		for total() < r*workers*calls/(restarts+1) {
			time.Sleep(time.Millisecond)
		}
		stop(cmd)
		cmd = start()
	}
	wg.Wait()
	stop(cmd)
	t.Logf("answered by daemon pid: %v", answered)
	for _, err := range failed {
		t.Error(err)
	}
	if len(answered) < 2 {
		t.Errorf("the calls reached %d daemon(s): the restarts did not happen under them", len(answered))
	}
}

// restartChild serves on the socket passed as fd 3 until SIGTERM.
func restartChild(state string) {
	os.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	cfg := daemon.DefaultConfig()
	cfg.StateDir = state
	cfg.Socket = "/nonexistent/own.sock" // the passed socket is used
	d, err := daemon.New(ctx, daemon.Options{Config: cfg, Version: "test", Backends: []sessions.Backend{}, Notify: func(string) {}})
	if err == nil {
		err = d.Serve(ctx)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "daemon:", err)
		os.Exit(1)
	}
	os.Exit(0)
}
