package daemon_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"image"
	"image/color"
	"image/png"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon/daemontest"
	"github.com/wad-project/wad/internal/store"
	"github.com/wad-project/wad/sessions/sessiontest"
)

// These tests cover how media reaches the daemon: base64 in the request
// or a descriptor passed with it (SCM_RIGHTS), never a path; and that bad
// input is refused before the backend sees anything.

func pngBytes(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), uint8(x ^ y), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func hexSHA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// connected starts a daemon whose stand-in backend has client "sales"
// connected.
func connected(t *testing.T) (*daemontest.Daemon, *sessiontest.Backend) {
	t.Helper()
	return connectedWith(t, nil)
}

func writeFile(t *testing.T, data []byte) *os.File {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestMediaByDataAndByDescriptorArriveWhole(t *testing.T) {
	d, b := connected(t)
	ctx := context.Background()
	img := pngBytes(t, 300, 200)
	fd0 := 0

	// base64 data
	if _, err := d.Client.Send(ctx, ctl.SendParams{Wait: true, Client: "sales", To: "+4915112345678",
		Media: &ctl.Media{Kind: ctl.MediaImage, Data: img, Caption: "by data"}}); err != nil {
		t.Fatalf("send by data: %v", err)
	}
	// a regular file's descriptor
	var res ctl.SendResult
	if err := d.Client.CallFiles(ctx, ctl.MethodSend, ctl.SendParams{Wait: true, Client: "sales", To: "+4915112345678",
		Media: &ctl.Media{Kind: ctl.MediaImage, FD: &fd0}}, &res, writeFile(t, img)); err != nil {
		t.Fatalf("send by fd: %v", err)
	}
	// a pipe's descriptor: read once, spooled by the daemon
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() { pw.Write(img); pw.Close() }()
	if err := d.Client.CallFiles(ctx, ctl.MethodSend, ctl.SendParams{Wait: true, Client: "sales", To: "+4915112345678",
		Media: &ctl.Media{Kind: ctl.MediaDocument, FD: &fd0, Filename: "chart.png"}}, &res, pr); err != nil {
		t.Fatalf("send by pipe: %v", err)
	}
	pr.Close()

	sent := b.Session("sales").Sent
	if len(sent) != 3 {
		t.Fatalf("backend got %d messages, want 3", len(sent))
	}
	for i, s := range sent {
		if s.Media == nil || s.Media.SHA256 != hexSHA(img) || s.Media.Size != int64(len(img)) {
			t.Fatalf("message %d: media %+v, want %d bytes with sha256 %s", i, s.Media, len(img), hexSHA(img))
		}
	}
	if sent[0].Media.Mime != "image/png" || sent[0].Media.Caption != "by data" {
		t.Errorf("detected %+v", sent[0].Media)
	}
	if sent[2].Media.Kind != ctl.MediaDocument || sent[2].Media.Filename != "chart.png" {
		t.Errorf("document %+v", sent[2].Media)
	}
}

func TestBadMediaIsRefusedWithNothingSent(t *testing.T) {
	d, b := connected(t)
	ctx := context.Background()
	img := pngBytes(t, 16, 16)
	fd0, fd1 := 0, 1
	writeOnly, err := os.OpenFile(filepath.Join(t.TempDir(), "w"), os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer writeOnly.Close()
	dir, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()

	cases := []struct {
		name  string
		p     ctl.SendParams
		files []*os.File
		want  string
	}{
		{"no kind", ctl.SendParams{Media: &ctl.Media{Data: img}}, nil, "media.kind"},
		{"unknown kind", ctl.SendParams{Media: &ctl.Media{Kind: "hologram", Data: img}}, nil, "hologram"},
		{"data and fd", ctl.SendParams{Media: &ctl.Media{Kind: "image", Data: img, FD: &fd0}}, []*os.File{writeFile(t, img)}, "exactly one of data"},
		{"text and media", ctl.SendParams{Text: "hi", Media: &ctl.Media{Kind: "image", Data: img}}, nil, "exactly one"},
		{"kind/mime mismatch", ctl.SendParams{Media: &ctl.Media{Kind: "image", Mime: "video/mp4", Data: img}}, nil, "video/mp4"},
		{"image that is a PDF", ctl.SendParams{Media: &ctl.Media{Kind: "image", Data: []byte("%PDF-1.4\n%...\n")}}, nil, "pdf"},
		{"voice that is not Ogg/Opus", ctl.SendParams{Media: &ctl.Media{Kind: "voice", Data: img}}, nil, "Opus"},
		{"sticker that is not WebP", ctl.SendParams{Media: &ctl.Media{Kind: "sticker", Data: img}}, nil, "WebP"},
		{"fd not passed", ctl.SendParams{Media: &ctl.Media{Kind: "image", FD: &fd0}}, nil, "fd 0 was not passed"},
		{"fd index out of range", ctl.SendParams{Media: &ctl.Media{Kind: "image", FD: &fd1}}, []*os.File{writeFile(t, img)}, "fd 1 was not passed"},
		{"write-only fd", ctl.SendParams{Media: &ctl.Media{Kind: "image", FD: &fd0}}, []*os.File{writeOnly}, "not readable"},
		{"directory fd", ctl.SendParams{Media: &ctl.Media{Kind: "document", FD: &fd0}}, []*os.File{dir}, "fd"},
		{"sticker over its limit", ctl.SendParams{Media: &ctl.Media{Kind: "sticker", Data: make([]byte, 600<<10)}}, nil, "limit"},
		{"caption on a voice note", ctl.SendParams{Media: &ctl.Media{Kind: "voice", Data: img, Caption: "x"}}, nil, "caption"},
		{"path-like filename", ctl.SendParams{Media: &ctl.Media{Kind: "document", Data: img, Filename: "../etc/passwd"}}, nil, "filename"},
		{"mention without text", ctl.SendParams{Location: &ctl.Location{Lat: 1, Lon: 2}, Mentions: []string{"+4915112345678"}}, nil, "mentions"},
		{"bad reply id", ctl.SendParams{Text: "x", ReplyTo: "a b"}, nil, "reply_to"},
		{"bad location", ctl.SendParams{Location: &ctl.Location{Lat: 91, Lon: 0}}, nil, "lat"},
		{"bad contact phone", ctl.SendParams{Contact: &ctl.ContactCard{Name: "A", Phone: "12"}}, nil, "contact.phone"},
	}
	for _, c := range cases {
		c.p.Client, c.p.To = "sales", "+4915112345678"
		err := d.Client.CallFiles(ctx, ctl.MethodSend, c.p, nil, c.files...)
		if !errors.Is(err, ctl.ErrInvalidParams) || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(c.want)) {
			t.Errorf("%s: got %v, want invalid params mentioning %q", c.name, err, c.want)
		}
	}
	if n := len(b.Session("sales").Sent); n != 0 {
		t.Fatalf("the backend got %d messages from bad requests", n)
	}
}

// TestPassedDescriptorsAreClosed: whether a request uses its descriptors,
// fails, or is no request at all, the daemon keeps none of them open.
func TestPassedDescriptorsAreClosed(t *testing.T) {
	d, _ := connected(t)
	ctx := context.Background()
	before := openFDs(t)
	img := pngBytes(t, 8, 8)
	fd0 := 0
	for range 20 {
		f := writeFile(t, img)
		// used
		if err := d.Client.CallFiles(ctx, ctl.MethodSend, ctl.SendParams{Wait: true, Client: "sales", To: "+4915112345678",
			Media: &ctl.Media{Kind: ctl.MediaImage, FD: &fd0}}, nil, f); err != nil {
			t.Fatal(err)
		}
		// passed to a method that takes none
		if err := d.Client.CallFiles(ctx, ctl.MethodStatus, nil, nil, f, f); err != nil {
			t.Fatal(err)
		}
		// refused before the method runs
		if err := d.Client.CallFiles(ctx, "no.such.method", nil, nil, f); !errors.Is(err, ctl.ErrMethodNotFound) {
			t.Fatalf("unknown method: %v", err)
		}
		f.Close()
	}
	// with a notification and with a line that is no request
	c, err := net.Dial("unix", d.Socket)
	if err != nil {
		t.Fatal(err)
	}
	uc := c.(*net.UnixConn)
	f := writeFile(t, img)
	for _, line := range []string{`{"jsonrpc":"2.0","method":"wad.status"}`, `[1,2]`, `   `, `{"jsonrpc":"2.0","id":9,"method":7}`} {
		for range 5 {
			if _, _, err := uc.WriteMsgUnix([]byte(line+"\n"), syscall.UnixRights(int(f.Fd())), nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := d.Client.Status(ctx); err != nil { // the daemon is still fine
		t.Fatal(err)
	}
	// The lines have been read once the error for the last one is back.
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	openWhileConnected := openFDs(t)
	c.Close()
	f.Close()
	deadline := time.Now().Add(10 * time.Second)
	for openFDs(t) > before+2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if after := openFDs(t); after > before+2 {
		t.Fatalf("open descriptors went from %d to %d", before, after)
	}
	if openWhileConnected > before+4 {
		t.Fatalf("lines that were no request left %d descriptors open while their connection lasted", openWhileConnected-before)
	}
}

// openFDs counts the process's open descriptors but those of the
// daemon's own database (wad.db and its WAL: the connection pool grows
// and shrinks with the load).
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		target, _ := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if !strings.Contains(filepath.Base(target), store.FileName) {
			n++
		}
	}
	return n
}

func TestMediaLineLimitIsItsOwn(t *testing.T) {
	d, b := connected(t)
	ctx := context.Background()
	big := make([]byte, 3<<19) // 1.5 MiB, 2 MiB as base64
	rand.Read(big)
	if _, err := d.Client.Send(ctx, ctl.SendParams{Wait: true, Client: "sales", To: "+4915112345678",
		Media: &ctl.Media{Kind: ctl.MediaDocument, Data: big, Filename: "big.bin"}}); err != nil {
		t.Fatalf("a media request over max_request_bytes but under max_media_request_bytes: %v", err)
	}
	if n := len(b.Session("sales").Sent); n != 1 {
		t.Fatalf("sent %d", n)
	}
	// Other methods keep the small limit.
	_, err := d.Client.Login(ctx, ctl.LoginParams{Client: "sales", Backend: strings.Repeat("x", 2<<20)})
	if !errors.Is(err, ctl.ErrInvalidRequest) || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("a 2 MiB session.login: %v", err)
	}
}
