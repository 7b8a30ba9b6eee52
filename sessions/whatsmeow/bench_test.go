package whatsmeow_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon"
	"github.com/wad-project/wad/daemon/daemontest"
	"github.com/wad-project/wad/internal/syncbuf"
	"github.com/wad-project/wad/internal/wafake"
	"github.com/wad-project/wad/reaper"
	"github.com/wad-project/wad/sessions"
	wm "github.com/wad-project/wad/sessions/whatsmeow"
)

// The memory benchmarks run the fake WhatsApp server in a process of
// its own (startRemoteFake), so that what they measure is wad's: the
// whatsmeow clients, their websockets, the store and the daemon, but
// not the fake's side of the connections.

// BenchmarkConnectedSessions is the capacity figure: N whatsmeow
// sessions logged in to the fake over live TLS websockets, idle, in a
// real daemon started in preserve mode (as after `systemctl restart
// wad`: it restores every stored login on its own, without a QR code).
//
// Setup, not timed: the fake's process; a daemon in this process on a
// fresh state dir that logs N clients in over its socket (16 at a time),
// each scanned by a phone of its own on the fake; all N connected; that
// daemon stopped. Its wall time is logged.
//
// Timed, once per b.Loop iteration: a daemon in a process of its own
// (the test binary re-executed, runBenchDaemon: one that has done
// nothing else, so that the setup's leftovers are not in what is
// measured) started in preserve mode on the same state dir, from the
// exec until wad.status, polled every 20 ms over its socket, counts all
// N connected. Then, on the first iteration only and outside the timer,
// the sessions idle for 3 s (WAD_BENCH_IDLE, a Go duration, changes it;
// whatsmeow's first keepalive comes after 20 to 30 s, so the default
// measures before any has run: WAD_BENCH_IDLE=35s includes one) and the
// daemon's process samples its memory; the daemon is stopped before the
// next iteration. With -benchtime 1x there is one iteration; with the
// default 1s the restart repeats until a second of it has been timed.
// (-benchmem's B/op and allocs/op are this process's, the harness's.)
//
// Metrics, of the daemon's process unless said otherwise:
//
//   - connect-all-s: the timed span per iteration (ns/op in seconds);
//   - heap-B/session: live Go heap after GC with the N connected, minus
//     the same before the daemon started, divided by N;
//   - rss-B/session: the resident set (smaps_rollup Rss, after GC and
//     debug.FreeOSMemory) likewise, so the daemon's fixed cost is spread
//     over the sessions (an upper bound); the log line gives Pss too;
//   - rss-MiB: the resident set with the N connected;
//   - fake-rss-MiB: the fake's process, for information.
//
// The goal is under 5 MB per connected idle session.
func BenchmarkConnectedSessions(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("sessions=%d", n), func(b *testing.B) { benchConnected(b, n) })
	}
}

// benchConcurrency is how many logins the setup runs at once.
const benchConcurrency = 16

func benchConnected(b *testing.B, n int) {
	ctx := context.Background()
	idle := 3 * time.Second
	if v := os.Getenv("WAD_BENCH_IDLE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("WAD_BENCH_IDLE: %v", err)
		}
		idle = d
	}

	setupStart := time.Now()
	fake := startRemoteFake(b)
	dir := b.TempDir()
	offline := func() {
		waitFake(b, "no device online", func() (bool, error) {
			on, err := fake.Online(ctx)
			return on == 0, err
		})
	}
	// Warnings and errors, shown if the setup fails.
	setupLog := &syncbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(setupLog, &slog.HandlerOptions{Level: slog.LevelWarn}))
	be, err := wm.New(ctx, wm.Config{DeviceName: "wad-bench"}, dir, log, wm.WithHTTPClient(fake.HTTPClient()))
	if err != nil {
		b.Fatalf("opening backend: %v", err)
	}
	d := daemontest.Start(b, daemontest.Options{
		Backends:       []sessions.Backend{be},
		StateDir:       dir,
		DefaultBackend: wm.Name,
		Log:            log,
		Config:         func(c *daemon.Config) { c.Reaper.Mode = reaper.ModePreserve },
	})
	pairStart := time.Now()
	pairAll(b, d, fake, n)
	if err := waitConnected(d.Client, n, 5*time.Minute); err != nil {
		b.Fatalf("setup: %v\n%s", err, setupLog)
	}
	paired := time.Since(pairStart)
	if stored, err := be.Stored(ctx); err != nil || len(stored) != n {
		b.Fatalf("setup: %d logins stored, want %d: %v\n%s", len(stored), n, err, setupLog)
	}
	d.Stop()
	offline()
	// What the restore will find: every login, still there after the stop.
	if be, err = wm.New(ctx, wm.Config{}, dir, log); err != nil {
		b.Fatal(err)
	}
	stored, err := be.Stored(ctx)
	be.Close()
	if err != nil || len(stored) != n {
		b.Fatalf("setup: %d logins stored after the daemon stopped, want %d: %v\n%s", len(stored), n, err, setupLog)
	}
	b.Logf("setup: %d sessions paired and connected in %s (%.1f/s), %s in all with the fake and the stop",
		n, paired.Round(time.Millisecond), float64(n)/paired.Seconds(), time.Since(setupStart).Round(time.Millisecond))

	// The daemon's socket: t.TempDir() paths can exceed 108 bytes.
	sockDir, err := os.MkdirTemp("", "wadb")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(sockDir) })
	root := wafake.RootKey()
	cfg := childDaemonConfig{StateDir: dir, Socket: filepath.Join(sockDir, "wad.sock"), Fake: fake.Addr(), CA: fake.CAPEM(), Root: root[:]}

	var before, after memSample
	var goroutines, online, logins int
	var fakeRSS uint64
	first := true
	for b.Loop() {
		bd := startBenchDaemon(b, cfg)
		if err := waitConnected(bd.Client, n, 5*time.Minute); err != nil {
			b.Fatalf("restore: %v\n%s", err, bd.Log())
		}
		b.StopTimer()
		if first {
			first = false
			time.Sleep(idle)
			if err := waitConnected(bd.Client, n, time.Second); err != nil {
				b.Fatalf("after %s idle: %v\n%s", idle, err, bd.Log())
			}
			before = bd.Before
			if after, goroutines, err = bd.Mem(); err != nil {
				b.Fatalf("the daemon's memory: %v", err)
			}
			if online, err = fake.Online(ctx); err == nil {
				if logins, err = fake.Logins(ctx); err == nil {
					fakeRSS, err = fake.RSS(ctx)
				}
			}
			if err != nil {
				b.Fatalf("asking the fake: %v", err)
			}
			if online != n {
				b.Fatalf("the fake has %d devices online, want %d", online, n)
			}
		}
		bd.Stop(b)
		offline()
		b.StartTimer()
	}

	per := func(a, z uint64) float64 { return (float64(z) - float64(a)) / float64(n) }
	const mib = 1 << 20
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "connect-all-s")
	b.ReportMetric(per(before.heap, after.heap), "heap-B/session")
	b.ReportMetric(per(before.rss, after.rss), "rss-B/session")
	b.ReportMetric(float64(after.rss)/mib, "rss-MiB")
	b.ReportMetric(float64(fakeRSS)/mib, "fake-rss-MiB")
	b.Logf("daemon process before the daemon and with %d sessions connected (idle %s): heap %.1f -> %.1f MiB, "+
		"rss %.1f -> %.1f MiB, pss %.1f -> %.1f MiB (%.0f B/session); %.1f goroutines/session; the fake saw %d logins, %d devices online",
		n, idle, float64(before.heap)/mib, float64(after.heap)/mib, float64(before.rss)/mib, float64(after.rss)/mib,
		float64(before.pss)/mib, float64(after.pss)/mib, per(before.pss, after.pss), float64(goroutines)/float64(n), logins, online)
}

// pairAll logs clients bench0000… in over d's socket, benchConcurrency
// at a time, each with an account of its own on the fake whose phone
// scans the QR code; each slot is held until its session is connected.
func pairAll(b *testing.B, d *daemontest.Daemon, fake *wafake.Remote, n int) {
	b.Helper()
	sem := make(chan struct{}, benchConcurrency)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for i := range n {
		client := fmt.Sprintf("bench%04d", i)
		phone := fmt.Sprintf("4915%09d", i)
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := pairOne(d, fake, client, phone); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", client, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		b.Fatalf("%d of %d logins failed, the first: %v", len(errs), n, errs[0])
	}
}

func pairOne(d *daemontest.Daemon, fake *wafake.Remote, client, phone string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := fake.AddAccount(ctx, phone, client); err != nil {
		return err
	}
	st, err := d.Client.Login(ctx, ctl.LoginParams{Client: client})
	if err != nil {
		return err
	}
	if st.State != ctl.StateQR || st.QR == "" {
		return fmt.Errorf("session.login: %+v, want a QR code", st)
	}
	if _, err := fake.Scan(ctx, phone, st.QR); err != nil {
		return err
	}
	for {
		st, err := d.Client.Session(ctx, client)
		switch {
		case err != nil:
			return err
		case st.State == ctl.StateConnected:
			return nil
		case st.State == ctl.StateLoggedOut || st.State == ctl.StateStopped || st.State == ctl.StateFailed:
			return fmt.Errorf("after the scan: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitConnected polls wad.status until the n sessions bench0000… are
// connected; on timeout its error names those that are not.
func waitConnected(c *ctl.Client, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		st, err := c.Status(ctx)
		cancel()
		if err != nil {
			return fmt.Errorf("wad.status: %w", err)
		}
		if st.States[ctl.StateConnected] == n {
			return nil
		}
		if time.Now().After(deadline) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			list, err := c.List(ctx)
			cancel()
			if err != nil {
				return fmt.Errorf("wad.status %v; session.list: %w", st.States, err)
			}
			seen := map[string]ctl.Session{}
			for _, s := range list {
				seen[s.Client] = s
			}
			var off []string
			for i := range n {
				client := fmt.Sprintf("bench%04d", i)
				if s, ok := seen[client]; !ok {
					off = append(off, client+" (no session)")
				} else if s.State != ctl.StateConnected {
					off = append(off, fmt.Sprintf("%s (%s %s: %s)", client, s.State, s.Reason, s.Message))
				}
			}
			return fmt.Errorf("%d of %d sessions connected after %s; states %v; not connected: %v",
				st.States[ctl.StateConnected], n, timeout, st.States, off)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitFake polls the fake until cond holds (within a minute).
func waitFake(b *testing.B, what string, cond func() (bool, error)) {
	b.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		ok, err := cond()
		if err != nil {
			b.Fatalf("asking the fake: %v", err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("the fake never reported %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// BenchmarkIdleSessionHeap reports the Go heap held per idle session
// that is not connected (heap-B/session: live heap after GC with 100
// sessions, minus before, divided by 100):
//
//   - created: backend.New only (what the registry holds for a client
//     that has not logged in);
//   - qr: started, with its whatsmeow client, new device keys and QR
//     channel, showing a QR code from the fake (in a process of its
//     own, so its heap is not counted).
//
// Connected sessions are BenchmarkConnectedSessions'.
func BenchmarkIdleSessionHeap(b *testing.B) {
	for _, mode := range []string{"created", "qr"} {
		b.Run(mode, func(b *testing.B) { benchIdleHeap(b, mode) })
	}
}

const benchSessions = 100

func benchIdleHeap(b *testing.B, mode string) {
	ctx := context.Background()
	var be *wm.Backend
	if mode == "qr" {
		be = openBackend(b, b.TempDir(), startRemoteFake(b).HTTPClient(), nil)
	} else {
		be, _ = newOfflineBackend(b, b.TempDir(), nil) // connects to nothing
	}
	// Timed: making (and starting) the sessions, once per b.Loop
	// iteration; the heap is measured after the first, outside the
	// timer, and the sessions are stopped before the next.
	before := liveHeap()
	var perSession float64
	first := true
	for b.Loop() {
		held := make([]sessions.Session, 0, benchSessions)
		for j := range benchSessions {
			s, err := be.New(ctx, newEnv(fmt.Sprintf("bench%03d", j), nil, nil))
			if err != nil {
				b.Fatal(err)
			}
			held = append(held, s)
			if mode == "qr" {
				if err := waitErr(b, startAsync(s, sessions.StartOptions{})); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.StopTimer()
		if first {
			first = false
			perSession = (float64(liveHeap()) - float64(before)) / benchSessions
		}
		runtime.KeepAlive(held)
		for _, s := range held {
			s.Stop(ctx)
		}
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
