package daemon

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func shortDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "wad")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

var discard = slog.New(slog.DiscardHandler)

func TestListenCreatesPrivateSocketAndRemovesItOnClose(t *testing.T) {
	path := filepath.Join(shortDir(t), "run", "wad.sock")
	ln, err := listen(path, "", discard)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket: %v %v", fi.Mode(), err)
	}
	di, _ := os.Stat(filepath.Dir(path))
	if di.Mode().Perm() != 0o750 {
		t.Fatalf("socket dir mode %v, want 0750", di.Mode().Perm())
	}
	ln.Close()
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Fatalf("socket left behind after close: %v", err)
	}
}

func TestListenRefusesWhenAnotherDaemonAnswers(t *testing.T) {
	path := filepath.Join(shortDir(t), "wad.sock")
	ln, err := listen(path, "", discard)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = listen(path, "", discard)
	if err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second listen: %v", err)
	}
	// The first daemon's socket is untouched.
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("the refused second start broke the first daemon's socket: %v", err)
	}
	c.Close()
}

func TestListenReplacesStaleSocketButNoOtherFile(t *testing.T) {
	dir := shortDir(t)
	path := filepath.Join(dir, "wad.sock")
	// A socket file nobody listens on, as a crashed daemon leaves it.
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	ln, err := listen(path, "", discard)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	ln.Close()

	regular := filepath.Join(dir, "notasocket")
	os.WriteFile(regular, []byte("keep me"), 0o600)
	if _, err := listen(regular, "", discard); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("listen over a regular file: %v", err)
	}
	if b, _ := os.ReadFile(regular); string(b) != "keep me" {
		t.Fatal("a regular file was replaced")
	}
}

func TestListenRefusesOverlongPath(t *testing.T) {
	path := "/tmp/" + strings.Repeat("d", 110) + "/wad.sock"
	if _, err := listen(path, "", discard); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Fatalf("got %v", err)
	}
}

// TestListenTakesSystemdSocketAndNeverUnlinksIt runs itself as a child
// that inherits a listening socket on fd 3 the way systemd passes one.
func TestListenTakesSystemdSocketAndNeverUnlinksIt(t *testing.T) {
	if os.Getenv("WAD_ACTIVATION_CHILD") != "" {
		os.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()))
		ln, err := listen("/nonexistent/own.sock", "", discard)
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		fmt.Println("ACTIVATED", ln.Activated, ln.Path)
		ln.Close()
		os.Exit(0)
	}
	dir := shortDir(t)
	path := filepath.Join(dir, "activated.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	f, err := l.(*net.UnixListener).File()
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestListenTakesSystemdSocketAndNeverUnlinksIt$")
	cmd.Env = append(os.Environ(), "WAD_ACTIVATION_CHILD=1", "LISTEN_FDS=1")
	cmd.ExtraFiles = []*os.File{f} // fd 3
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ACTIVATED true "+path) {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if fi, err := os.Lstat(path); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("the systemd-owned socket was unlinked: %v", err)
	}
}
