package whatsmeow_test

import (
	"github.com/wad-project/wad/internal/syncbuf"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	wa "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types/events"

	wm "github.com/wad-project/wad/sessions/whatsmeow"
)

// TestWactlLoginDrawsQRThenConnects runs the real wactl binary against a
// daemon whose whatsmeow session is driven by whatsmeow's events: the
// terminal shows a QR block, redraws it on rotation, and ends with the
// connected line and exit status 0.
func TestWactlLoginDrawsQRThenConnects(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "wactl")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/wad-project/wad/cmd/wactl").CombinedOutput(); err != nil {
		t.Fatalf("building wactl: %v\n%s", err, out)
	}
	dir := t.TempDir()
	b, _ := newBackend(t, dir, nil, offline())
	d := startDaemon(t, b, dir, nil)

	var out syncbuf.Buffer
	cmd := exec.Command(bin, "--socket", d.Socket, "login", "sales", "--timeout", "60s")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	waitOutput := func(want string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(out.String(), want) {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("wactl never printed %q:\n%s", want, out.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	waitRunning(t, b, "sales")
	feed(t, b, "sales", &events.QR{Codes: []string{"2@first,ref", "2@second,ref"}})
	waitOutput("scan this QR code")
	wm.QRItem(b, "sales", wa.QRChannelItem{Event: wa.QRChannelEventCode, Code: "2@second,ref", Timeout: 20 * time.Second})
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(out.String(), "scan this QR code") < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	pair(t, b, "sales", deviceJID("4915112345678", 9), "Sales Desk")
	feed(t, b, "sales", &events.Connected{})
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("wactl login: %v\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("wactl login did not exit after the connection:\n%s", out.String())
	}
	got := out.String()
	if n := strings.Count(got, "scan this QR code"); n != 2 {
		t.Errorf("QR drawn %d times, want 2 (first code and rotation):\n%s", n, got)
	}
	qrAt := strings.Index(got, "▀")
	if qrAt < 0 {
		qrAt = strings.Index(got, "█")
	}
	connAt := strings.Index(got, "sales: connected as 4915112345678@s.whatsapp.net (Sales Desk)")
	if qrAt < 0 || connAt < 0 || connAt < qrAt {
		t.Fatalf("want a QR block, then the connected line:\n%s", got)
	}
}
