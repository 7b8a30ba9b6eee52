package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon"
	"github.com/wad-project/wad/daemon/daemontest"
	"github.com/wad-project/wad/internal/syncbuf"
	"github.com/wad-project/wad/sessions"
	"github.com/wad-project/wad/sessions/sessiontest"
)

// connected starts a daemon with a stand-in backend whose sessions
// connect at once, and logs sales in.
func connected(t *testing.T, config func(*daemon.Config)) (*daemontest.Daemon, *sessiontest.Backend) {
	t.Helper()
	b := &sessiontest.Backend{Connect: true}
	d := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{b}, Config: config})
	if _, err := d.Client.Login(context.Background(), ctl.LoginParams{Client: "sales"}); err != nil {
		t.Fatal(err)
	}
	return d, b
}

// TestSendFileReachesTheBackend prevents a --file that does not arrive
// whole through the real daemon: a file far larger than the daemon
// lets a request line be reaches the backend byte for byte, with its
// name, kind and caption, because it travels as a descriptor.
// sentLine is what wactl send prints once the queue sent the message;
// queuedID is a message id the queue gives.
var (
	sentLine = regexp.MustCompile(`^sent 3EB0[0-9A-F]{18} at `)
	queuedID = regexp.MustCompile(`^3EB0[0-9A-F]{18}$`)
)

func TestSendFileReachesTheBackend(t *testing.T) {
	d, b := connected(t, func(c *daemon.Config) { c.MaxRequestBytes, c.MaxMediaRequestBytes = 4096, 4096 })
	content := bytes.Repeat([]byte("quarterly figures, line after line\n"), 4000) // 140 kB
	path := filepath.Join(t.TempDir(), "figures.txt")
	os.WriteFile(path, content, 0o600)
	code, out, errs := wactl(t, d.Socket, "", "send", "sales", "+4915112345678", "--file", path, "--caption", "Q3")
	if code != 0 || !sentLine.MatchString(out) {
		t.Fatalf("send --file: exit %d, %q %q", code, out, errs)
	}
	sent := b.Session("sales").Sent
	sum := sha256.Sum256(content)
	if len(sent) != 1 || sent[0].Media == nil || sent[0].To != "4915112345678@s.whatsapp.net" {
		t.Fatalf("backend got %+v", sent)
	}
	m := sent[0].Media
	if m.Kind != ctl.MediaDocument || m.Filename != "figures.txt" || m.Caption != "Q3" || m.Size != int64(len(content)) || m.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("backend got %+v, want the %d bytes of figures.txt", m, len(content))
	}

	// What the daemon refuses comes back as its error, exit 1.
	voice := filepath.Join(t.TempDir(), "note.ogg")
	os.WriteFile(voice, []byte("OggS not really"), 0o600)
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--file", voice, "--kind", "voice", "--caption", "hear this"}, "caption"},
		{[]string{"--contact", "Ada=12345"}, "contact.phone"},
		{[]string{"--location", "52.5,13.4", "--mention", "+4915112345678"}, "mentions need a text"},
		{[]string{"hi", "--reply-to", "not an id!"}, "reply_to"},
	} {
		code, _, errs := wactl(t, d.Socket, "", append([]string{"send", "sales", "+4915112345678"}, tc.args...)...)
		if code != 1 || !strings.Contains(errs, tc.msg) || !strings.Contains(errs, "(error -32602)") {
			t.Errorf("send %q: exit %d, %q; want 1 and %q", tc.args, code, errs, tc.msg)
		}
	}
	for _, args := range [][]string{
		{"--location", "52.5163,13.3777", "--name", "Brandenburger Tor"},
		{"--contact", "Ada Lovelace=+441234567890"},
		{"see @4915112345678", "--reply-to", "3EB0C431D5A1", "--mention", "+4915112345678"},
	} {
		if code, _, errs := wactl(t, d.Socket, "", append([]string{"send", "sales", "+4915112345678"}, args...)...); code != 0 {
			t.Errorf("send %q: exit %d, %q", args, code, errs)
		}
	}
}

// TestUnsupportedOperationsSayWhich prevents an operation the session's
// backend cannot do from looking like a success or a wactl bug: the
// stand-in backend does only sends, and each other command exits 1 with
// the daemon's "not supported" error, a download leaving no file.
func TestUnsupportedOperationsSayWhich(t *testing.T) {
	d, _ := connected(t, nil)
	dir := t.TempDir()
	t.Chdir(dir)
	const chat = "+4915112345678"
	for _, tc := range []struct {
		args   []string
		method string
	}{
		{[]string{"react", "sales", chat, "3EB0C431D5A1", "👍"}, ctl.MethodReact},
		{[]string{"edit", "sales", chat, "3EB0C431D5A1", "new"}, ctl.MethodEdit},
		{[]string{"revoke", "sales", chat, "3EB0C431D5A1"}, ctl.MethodRevoke},
		{[]string{"read", "sales", chat}, ctl.MethodRead},
		{[]string{"presence", "sales", chat, "recording"}, ctl.MethodPresence},
		{[]string{"download", "sales", chat, "3EB0C431D5A1"}, ctl.MethodDownload},
		{[]string{"download", "sales", chat, "3EB0C431D5A1", "-o", "photo.jpg"}, ctl.MethodDownload},
	} {
		code, out, errs := wactl(t, d.Socket, "", tc.args...)
		// Refused before the queue, or by the session when the queue
		// sends it: the same error either way.
		want := regexp.MustCompile(`^wactl: (message 3EB0[0-9A-F]{18} failed \(rejected\): )?` + regexp.QuoteMeta(tc.method) + ` is not supported by the whatsmeow backend \(error -32003\)\n$`)
		if code != 1 || out != "" || !want.MatchString(errs) {
			t.Errorf("wactl %q: exit %d, %q %q; want 1 and %s", tc.args, code, out, errs, want)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("failed downloads left files: %v", ents)
	}
	// Bad params are the daemon's to refuse too.
	code, _, errs := wactl(t, d.Socket, "", "react", "sales", "bob", "3EB0C431D5A1", "👍")
	if code != 1 || !strings.Contains(errs, "chat: invalid recipient") {
		t.Errorf("react to bob: exit %d, %q", code, errs)
	}
}

// TestWatchPrintsMessagingEvents prevents a watch that drops or garbles
// media messages, reactions, edits and revokes coming from a session;
// --json passes them on whole.
func TestWatchPrintsMessagingEvents(t *testing.T) {
	d, b := connected(t, nil)
	for _, asJSON := range []bool{false, true} {
		ctx, cancel := context.WithCancel(context.Background())
		var out syncbuf.Buffer
		done := make(chan int)
		args := []string{"--socket", d.Socket, "watch", "sales", "--kinds", "message,reaction,edit,revoke"}
		if asJSON {
			args = append(args, "--json")
		}
		subs := d.Registry.Bus().Len()
		go func() { done <- run(ctx, args, nil, &out, &out) }()
		for d.Registry.Bus().Len() == subs {
			time.Sleep(5 * time.Millisecond)
		}
		s := b.Session("sales")
		const alice = "4915112345678@s.whatsapp.net"
		s.Emit(ctl.Event{Kind: ctl.KindMessage, Message: &ctl.Message{ID: "M1", Sender: alice, Chat: alice, Type: "image", Caption: "look",
			Media: &ctl.MediaInfo{Kind: "image", Mime: "image/jpeg", Size: 1_200_000, Filename: "photo.jpg", SHA256: "ab12", Downloadable: true}}})
		s.Emit(ctl.Event{Kind: ctl.KindReaction, Message: &ctl.Message{ID: "R1", Sender: alice, Chat: alice, TargetID: "M0", Emoji: "👍"}})
		s.Emit(ctl.Event{Kind: ctl.KindEdit, Message: &ctl.Message{ID: "E1", Sender: alice, Chat: alice, TargetID: "M0", Text: "better"}})
		s.Emit(ctl.Event{Kind: ctl.KindRevoke, Message: &ctl.Message{ID: "X1", Sender: alice, Chat: alice, TargetID: "M0"}})
		want := []string{
			`sales message M1 from ` + alice + ` in ` + alice + `: [image 1.2 MB photo.jpg] "look"`,
			`sales reaction 👍 to M0 by ` + alice,
			`sales edit M0 by ` + alice + ` in ` + alice + `: "better"`,
			`sales revoke M0 by ` + alice,
		}
		if asJSON {
			want = []string{`"kind":"message"`, `"media":{"kind":"image","mime":"image/jpeg","size":1200000,"filename":"photo.jpg","sha256":"ab12"`,
				`"kind":"reaction"`, `"target_id":"M0","emoji":"👍"`, `"kind":"edit"`, `"kind":"revoke"`}
		}
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(out.String(), want[len(want)-1]) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		if code := <-done; code != 0 {
			t.Fatalf("watch exit %d", code)
		}
		for _, w := range want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("watch (json %v) lacks %q:\n%s", asJSON, w, out.String())
			}
		}
	}
}
