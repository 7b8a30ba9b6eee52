package wafake_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	wa "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/wad-project/wad/internal/wafake"
)

// TestRemoteFakePairsAndReportsOverItsLineProtocol runs ServeRemote over
// pipes in this process (a benchmark runs it in a child process) and
// drives it with a Remote: an unmodified whatsmeow client reaches it
// through the Remote's HTTP client, the remote phone scans its QR code,
// and the counts the protocol reports follow.
func TestRemoteFakePairsAndReportsOverItsLineProtocol(t *testing.T) {
	reqR, reqW := io.Pipe()
	ansR, ansW := io.Pipe()
	served := make(chan error, 1)
	go func() {
		err := wafake.ServeRemote(reqR, ansW, wafake.Options{})
		ansW.Close()
		served <- err
	}()
	rm, err := wafake.NewRemote(ansR, reqW)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := rm.AddAccount(ctx, "4915110000091", "Remote Desk"); err != nil {
		t.Fatal(err)
	}
	if err := rm.AddAccount(ctx, "4915110000091", "Again"); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("a second account with the same number: %v", err)
	}

	cli := wa.NewClient(newContainer(t).NewDevice(), nil)
	hc := rm.HTTPClient()
	cli.SetPreLoginHTTPClient(hc)
	cli.SetWebsocketHTTPClient(hc)
	cli.SetMediaHTTPClient(hc)
	evs := collect(cli)
	if err := cli.Connect(); err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer cli.Disconnect()
	qr := waitFor[*events.QR](t, evs)
	if _, err := rm.Scan(ctx, "4915110000099", qr.Codes[0]); err == nil {
		t.Fatal("a phone without an account scanned")
	}
	jid, err := rm.Scan(ctx, "4915110000091", qr.Codes[0])
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	if ps := waitFor[*events.PairSuccess](t, evs); ps.ID != jid {
		t.Fatalf("paired as %s, the remote phone linked %s", ps.ID, jid)
	}
	waitFor[*events.Connected](t, evs)
	count := func(name string, f func(context.Context) (int, error), want int) {
		t.Helper()
		n, err := f(ctx)
		if err != nil || n != want {
			t.Fatalf("%s = %d, %v; want %d", name, n, err, want)
		}
	}
	count("linked", rm.Linked, 1)
	count("online", rm.Online, 1)
	count("logins", rm.Logins, 1)
	if rss, err := rm.RSS(ctx); err != nil || rss < 1<<20 {
		t.Fatalf("rss = %d, %v", rss, err)
	}

	// Media goes up and comes down through the same client; expired, it
	// is gone.
	data := []byte("a file for the remote fake")
	up, err := cli.Upload(ctx, data, wa.MediaDocument)
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	count("uploads", rm.Uploads, 1)
	got, err := cli.DownloadMediaWithPath(ctx, up.DirectPath, up.FileEncSHA256, up.FileSHA256, up.MediaKey, len(data), wa.MediaDocument, "")
	if err != nil || string(got) != string(data) {
		t.Fatalf("download: %q, %v", got, err)
	}
	if n, err := rm.ExpireMedia(ctx, up.DirectPath); err != nil || n != 1 {
		t.Fatalf("expire: %d, %v", n, err)
	}
	if _, err := cli.DownloadMediaWithPath(ctx, up.DirectPath, up.FileEncSHA256, up.FileSHA256, up.MediaKey, len(data), wa.MediaDocument, ""); !errors.Is(err, wa.ErrMediaDownloadFailedWith404) {
		t.Fatalf("download after expiry: %v", err)
	}
	if n, err := rm.ExpireMedia(ctx); err != nil || n != 0 {
		t.Fatalf("expire all again: %d, %v", n, err)
	}

	// The client reaches nothing but the fake's address.
	for _, addr := range []string{"g.whatsapp.net:443", "web.whatsapp.com:80"} {
		if _, err := hc.Get("https://" + addr + "/"); err == nil || !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("get %s: %v, want refused", addr, err)
		}
	}
	for _, addr := range []string{"192.0.2.1:443", "web.whatsapp.com:443", "localhost"} {
		if _, err := wafake.HTTPClientFor(addr, rm.CAPEM()); err == nil {
			t.Fatalf("HTTPClientFor(%q) accepted a non-loopback address", addr)
		}
	}
	if _, err := wafake.HTTPClientFor(rm.Addr(), []byte("no PEM")); err == nil {
		t.Fatal("HTTPClientFor accepted no CA")
	}

	cli.Disconnect()
	if err := rm.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("ServeRemote: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("ServeRemote did not return when its input ended")
	}
	if _, err := rm.Linked(ctx); err == nil {
		t.Fatal("a request after the remote ended was answered")
	}
}
