package chromedp

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wad-project/wad/internal/chromeproc"
	"github.com/wad-project/wad/sessions"
)

// childEnv makes the test binary act as a tiny daemon (see TestMain).
const childEnv = "WAD_CHROMEDP_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChildDaemon())
	}
	os.Exit(m.Run())
}

// runChildDaemon starts one session like wad would and reports its
// browser's pid on stdout, then waits to be killed.
func runChildDaemon() int {
	state, url := os.Getenv("WAD_STATE"), os.Getenv("WAD_URL")
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	b, err := New(Config{WebURL: url}, state, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	reg := sessions.New(sessions.Config{StateDir: state, DefaultBackend: Name, Log: log}, b)
	for _, client := range []string{"k1", "k2"} {
		st, err := reg.Login(context.Background(), client, sessions.LoginOptions{})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Printf("SESSION %s %d\n", client, st.PID)
	}
	fmt.Println("READY")
	select {}
}

// Prevents: Chromium processes outliving a crashed daemon (and holding
// the profiles, so the restarted daemon hits "profile in use").
func TestKilledDaemonLeavesNoBrowser(t *testing.T) {
	t.Parallel()
	f := newFakeWA(t)
	state := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", "WAD_STATE="+state, "WAD_URL="+f.url(""))
	cmd.Stderr = tWriter{t}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := make(chan map[string]int, 1)
	go func() {
		pids := map[string]int{}
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 3 && f[0] == "SESSION" {
				pids[f[1]], _ = strconv.Atoi(f[2])
			}
			if sc.Text() == "READY" {
				ready <- pids
				return
			}
		}
		close(ready)
	}()
	var pids map[string]int
	select {
	case pids = <-ready:
	case <-time.After(90 * time.Second):
		t.Fatal("child daemon did not start its sessions")
	}
	if pids == nil {
		t.Fatal("child daemon failed")
	}
	profiles := []string{ProfileDir(state, "k1"), ProfileDir(state, "k2")}
	for i, p := range profiles {
		if len(ProfileProcesses(p)) == 0 {
			t.Fatalf("no browser on profile %d (%s) before the kill; pids %v", i, p, pids)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	for _, p := range profiles {
		waitNoProcesses(t, p, 15*time.Second)
	}
	// Children without --user-data-dir on their command line are still in
	// the browser's process group.
	for client, pgid := range pids {
		deadline := time.Now().Add(15 * time.Second)
		for {
			var left []int
			all, _ := chromeproc.Processes()
			for _, p := range all {
				if p.PGID == pgid && p.State != 'Z' {
					left = append(left, p.PID)
				}
			}
			if len(left) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("processes of %s's browser group %d survived the daemon: %v", client, pgid, left)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
