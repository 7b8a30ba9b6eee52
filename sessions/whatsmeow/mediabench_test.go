package whatsmeow_test

import (
	"context"
	"crypto/rand"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon/daemontest"
	"github.com/wad-project/wad/internal/syncbuf"
	"github.com/wad-project/wad/sessions"
	wm "github.com/wad-project/wad/sessions/whatsmeow"
)

// BenchmarkSendLargeDocument sends a 60 MB document by descriptor, as
// `wactl send --file` does, to a contact on the fake WhatsApp (in a
// process of its own, so that its copy of the upload is not counted),
// and reports the send time and how far the Go heap of the process
// holding the daemon rose above where it was before the send: the
// daemon reads, encrypts and uploads the file in chunks, so that stays
// a small multiple of one chunk whatever the file's size. Each round
// changes one byte of the file, so that every round really uploads.
func BenchmarkSendLargeDocument(b *testing.B) {
	const size = 60 << 20
	ctx := context.Background()
	fake := startRemoteFake(b)
	dir := b.TempDir()
	setupLog := &syncbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(setupLog, &slog.HandlerOptions{Level: slog.LevelWarn}))
	be, err := wm.New(ctx, wm.Config{}, dir, log, wm.WithHTTPClient(fake.HTTPClient()))
	if err != nil {
		b.Fatal(err)
	}
	d := daemontest.Start(b, daemontest.Options{Backends: []sessions.Backend{be}, StateDir: dir, DefaultBackend: wm.Name, Log: log})
	if err := pairOne(d, fake, "bench0000", "4915000000000"); err != nil {
		b.Fatalf("pairing: %v\n%s", err, setupLog)
	}
	if err := fake.AddAccount(ctx, "4917000000001", "contact"); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "big.bin")
	data := make([]byte, size)
	rand.Read(data)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		b.Fatal(err)
	}
	data = nil
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()

	var peak uint64
	round := byte(0)
	for b.Loop() {
		b.StopTimer()
		round++
		if _, err := f.WriteAt([]byte{round}, 0); err != nil {
			b.Fatal(err)
		}
		base := heapObjects()
		stop := sampleHeap()
		b.StartTimer()
		fd := 0
		var res ctl.SendResult
		err := d.Client.CallFiles(ctx, ctl.MethodSend, ctl.SendParams{Wait: true, Client: "bench0000", To: "+4917000000001",
			Media: &ctl.Media{Kind: ctl.MediaDocument, FD: &fd, Filename: "big.bin"}}, &res, f)
		b.StopTimer()
		if max := stop(); max > base && max-base > peak {
			peak = max - base
		}
		if err != nil {
			b.Fatalf("message.send of %d bytes: %v\n%s", size, err, setupLog)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(size)/(1<<20)/(b.Elapsed().Seconds()/float64(b.N)), "MiB/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-growth-MiB")
	if peak > 32<<20 {
		b.Errorf("the heap grew by %d MiB while sending a %d MiB file", peak>>20, size>>20)
	}
}

// heapObjects is the bytes in live and not yet swept heap objects.
func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// sampleHeap samples heapObjects every few milliseconds until the
// returned function is called, which returns the highest it saw.
func sampleHeap() func() uint64 {
	var mu sync.Mutex
	var max uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			v := heapObjects()
			mu.Lock()
			max = maxU(max, v)
			mu.Unlock()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() uint64 {
		close(done)
		wg.Wait()
		return max
	}
}

func maxU(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}
