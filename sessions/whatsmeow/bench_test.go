package whatsmeow_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"go.mau.fi/whatsmeow/types/events"

	"github.com/wad-project/wad/sessions"
	wm "github.com/wad-project/wad/sessions/whatsmeow"
)

// BenchmarkIdleSessionHeap reports the Go heap held per idle session
// (heap-B/session: live heap after GC with 100 sessions, minus before,
// divided by 100) in three idle conditions, none with a network:
//
//   - created: backend.New only (what the registry holds for a client
//     that has not logged in);
//   - qr: started, with its whatsmeow client, new device keys and QR
//     channel, showing a QR code;
//   - connected: paired (device saved in the store) and told Connected.
//
// Without a network there is no websocket, so the connected figure lacks
// the socket's buffers and the few goroutines (stacks are not heap) a
// live connection adds.
func BenchmarkIdleSessionHeap(b *testing.B) {
	for _, mode := range []string{"created", "qr", "connected"} {
		b.Run(mode, func(b *testing.B) { benchIdleHeap(b, mode) })
	}
}

const benchSessions = 100

func benchIdleHeap(b *testing.B, mode string) {
	ctx := context.Background()
	var perSession float64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		be, _ := newBackend(b, b.TempDir(), nil, offline())
		before := liveHeap()
		b.StartTimer()
		held := make([]sessions.Session, 0, benchSessions)
		for j := range benchSessions {
			client := fmt.Sprintf("bench%03d", j)
			s, err := be.New(ctx, newEnv(client, nil, nil))
			if err != nil {
				b.Fatal(err)
			}
			held = append(held, s)
			if mode == "created" {
				continue
			}
			done := startAsync(s, sessions.StartOptions{})
			waitRunning(b, be, client)
			feed(b, be, client, &events.QR{Codes: []string{"2@" + client}})
			if err := waitErr(b, done); err != nil {
				b.Fatal(err)
			}
			if mode == "connected" {
				pair(b, be, client, deviceJID(fmt.Sprintf("49151%08d", j), 2), client)
				feed(b, be, client, &events.Connected{})
			}
		}
		b.StopTimer()
		after := liveHeap()
		perSession = (float64(after) - float64(before)) / benchSessions
		runtime.KeepAlive(held)
		for j, s := range held {
			if mode == "connected" && wm.RunningClient(be, fmt.Sprintf("bench%03d", j)) == nil {
				b.Fatalf("session %d is not running", j)
			}
			s.Stop(ctx)
		}
		be.Close()
		b.StartTimer()
	}
	b.ReportMetric(perSession, "heap-B/session")
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
