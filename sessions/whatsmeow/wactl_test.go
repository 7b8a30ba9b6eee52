package whatsmeow_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wad-project/wad/internal/syncbuf"
	"github.com/wad-project/wad/internal/wafake"
)

// TestWactlLoginDrawsQRThenConnects runs the real wactl binary against a
// daemon whose whatsmeow session talks to the fake WhatsApp: the
// terminal shows a QR block, the fake phone scans the code, and wactl
// ends with the connected line and exit status 0. Then `wactl send`
// sends a text the contact's phone decrypts exactly.
func TestWactlLoginDrawsQRThenConnects(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "wactl")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/wad-project/wad/cmd/wactl").CombinedOutput(); err != nil {
		t.Fatalf("building wactl: %v\n%s", err, out)
	}
	dir := t.TempDir()
	srv := newFake(t, wafake.Options{})
	acct := newAccount(t, srv, "4915112345678", "Sales Desk")
	b := newBackend(t, dir, srv, nil)
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
		deadline := time.Now().Add(60 * time.Second)
		for !strings.Contains(out.String(), want) {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("wactl never printed %q:\n%s", want, out.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	waitOutput("scan this QR code")
	// The phone scans the code wad published (the terminal shows the
	// same text as a QR block).
	st := status(t, d, "sales")
	if _, err := acct.Scan(st.QR); err != nil {
		t.Fatalf("scan: %v", err)
	}
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
	if n := strings.Count(got, "scan this QR code"); n != 1 {
		t.Errorf("QR drawn %d times, want 1:\n%s", n, got)
	}
	qrAt := strings.Index(got, "▀")
	if qrAt < 0 {
		qrAt = strings.Index(got, "█")
	}
	connAt := strings.Index(got, "sales: connected as 4915112345678@s.whatsapp.net")
	if qrAt < 0 || connAt < 0 || connAt < qrAt {
		t.Fatalf("want a QR block, then the connected line:\n%s", got)
	}

	contact := newAccount(t, srv, "4917612345679", "Kunde")
	text := "Ihre Bestellung ist unterwegs 🚚"
	sendOut, err := exec.Command(bin, "--socket", d.Socket, "send", "sales", "+"+contact.Phone, text).CombinedOutput()
	if err != nil {
		t.Fatalf("wactl send: %v\n%s", err, sendOut)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	m, err := contact.WaitMessage(ctx, func(m wafake.Message) bool { return !m.IsFromMe })
	if err != nil {
		t.Fatalf("the contact got nothing: %v", err)
	}
	if m.Text() != text || !strings.Contains(string(sendOut), m.ID) {
		t.Fatalf("the contact decrypted %q (id %s); wactl said %q", m.Text(), m.ID, sendOut)
	}
}
