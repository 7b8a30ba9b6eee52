package whatsmeow_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon"
	"github.com/wad-project/wad/internal/syncbuf"
	"github.com/wad-project/wad/internal/wafake"
	"github.com/wad-project/wad/reaper"
	"github.com/wad-project/wad/sessions"
	wm "github.com/wad-project/wad/sessions/whatsmeow"
)

// benchDaemonEnv holds, as JSON, the benchDaemonConfig of the test
// binary re-executed as the daemon BenchmarkConnectedSessions measures
// (TestMain checks it): a real daemon in a process that has done nothing
// else, so that its memory is the daemon's alone.
const benchDaemonEnv = "WAD_BENCH_DAEMON"

// benchDaemonConfig is what the measured daemon's process is told.
type benchDaemonConfig struct {
	StateDir string
	Socket   string
	Fake     string // the remote fake's address
	CA       []byte // its CA, PEM
	Root     []byte // the Noise root key (wafake.RootKey)
}

// runBenchDaemon is the measured daemon's main: it pins the parent's
// fake root key, refuses every connection but the fake's, records its
// memory, starts a daemon in preserve mode on the state dir (which
// restores every stored login) and prints "ready <heap> <rss> <pss>",
// the memory before. Each "mem" line on stdin is answered with "mem
// <heap> <rss> <pss> <goroutines>" (sampleMem); when stdin ends the
// daemon shuts down. It returns the exit code.
func runBenchDaemon() int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "bench daemon:", err)
		return 1
	}
	var cfg benchDaemonConfig
	if err := json.Unmarshal([]byte(os.Getenv(benchDaemonEnv)), &cfg); err != nil {
		return fail(err)
	}
	if len(cfg.Root) != 32 {
		return fail(fmt.Errorf("root key of %d bytes", len(cfg.Root)))
	}
	if err := wafake.UseRoot([32]byte(cfg.Root)); err != nil {
		return fail(err)
	}
	wafake.InstallRoot()
	http.DefaultTransport = &http.Transport{Proxy: nil, DialContext: backstop.Dial}
	hc, err := wafake.HTTPClientFor(cfg.Fake, cfg.CA)
	if err != nil {
		return fail(err)
	}
	before := sampleMem()

	// Warnings and errors go to stderr, which the parent shows if the
	// benchmark fails.
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	be, err := wm.New(ctx, wm.Config{DeviceName: "wad-bench"}, cfg.StateDir, log, wm.WithHTTPClient(hc))
	if err != nil {
		return fail(err)
	}
	dc := daemon.DefaultConfig()
	dc.Socket, dc.StateDir = cfg.Socket, cfg.StateDir
	dc.Reaper.Mode = reaper.ModePreserve
	d, err := daemon.New(ctx, daemon.Options{Config: dc, Log: log, Version: "bench", Backends: []sessions.Backend{be}, Notify: func(string) {}})
	if err != nil {
		be.Close()
		return fail(err)
	}
	served := make(chan error, 1)
	go func() { served <- d.Serve(ctx) }()
	fmt.Printf("ready %d %d %d\n", before.heap, before.rss, before.pss)
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if sc.Text() == "mem" {
			m := sampleMem()
			fmt.Printf("mem %d %d %d %d\n", m.heap, m.rss, m.pss, runtime.NumGoroutine())
		}
	}
	cancel()
	if err := <-served; err != nil {
		return fail(err)
	}
	if a := backstop.Addrs(); len(a) > 0 {
		return fail(fmt.Errorf("connections bypassed the injected HTTP client: %v", a))
	}
	return 0
}

// benchDaemon is the parent's handle on a measured daemon's process.
type benchDaemon struct {
	// Client is connected to the daemon's socket.
	Client *ctl.Client
	// Before is the process's memory before the daemon started.
	Before memSample

	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	stderr *syncbuf.Buffer
	once   sync.Once
}

// startBenchDaemon starts the measured daemon's process and connects to
// its socket; it stops with tb.
func startBenchDaemon(tb testing.TB, cfg benchDaemonConfig) *benchDaemon {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	env, err := json.Marshal(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	bd := &benchDaemon{stderr: &syncbuf.Buffer{}}
	bd.cmd = exec.Command(exe, "-test.run=^$")
	bd.cmd.Env = append(os.Environ(), benchDaemonEnv+"="+string(env))
	bd.cmd.Stderr = bd.stderr
	if bd.in, err = bd.cmd.StdinPipe(); err != nil {
		tb.Fatal(err)
	}
	out, err := bd.cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	bd.out = bufio.NewReader(out)
	if err := bd.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { bd.Stop(tb) })
	var f []string
	line, err := bd.out.ReadString('\n')
	if err == nil {
		f = strings.Fields(line)
	}
	if len(f) != 4 || f[0] != "ready" {
		tb.Fatalf("the daemon's process did not start: %q, %v\n%s", line, err, bd.stderr)
	}
	fmt.Sscan(strings.Join(f[1:], " "), &bd.Before.heap, &bd.Before.rss, &bd.Before.pss) //nolint:errcheck
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if bd.Client, err = ctl.Dial(ctx, cfg.Socket); err != nil {
		tb.Fatalf("dialing the daemon: %v\n%s", err, bd.stderr)
	}
	return bd
}

// Log returns what the daemon's process wrote to stderr so far: its
// warnings and errors.
func (bd *benchDaemon) Log() string { return bd.stderr.String() }

// Mem has the daemon's process sample its memory (sampleMem) and
// count its goroutines.
func (bd *benchDaemon) Mem() (memSample, int, error) {
	if _, err := io.WriteString(bd.in, "mem\n"); err != nil {
		return memSample{}, 0, err
	}
	line, err := bd.out.ReadString('\n')
	if err != nil {
		return memSample{}, 0, err
	}
	var m memSample
	var g int
	if _, err := fmt.Sscanf(line, "mem %d %d %d %d\n", &m.heap, &m.rss, &m.pss, &g); err != nil {
		return memSample{}, 0, fmt.Errorf("%q: %w", line, err)
	}
	return m, g, nil
}

// Stop shuts the daemon down (its stdin ends) and waits for its process,
// killing it after a minute. It fails tb if the process failed.
func (bd *benchDaemon) Stop(tb testing.TB) {
	bd.once.Do(func() {
		if bd.Client != nil {
			bd.Client.Close()
		}
		bd.in.Close()
		done := make(chan error, 1)
		go func() { done <- bd.cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("the daemon's process: %v\n%s", err, bd.stderr)
			}
		case <-time.After(time.Minute):
			bd.cmd.Process.Kill() //nolint:errcheck
			<-done
			tb.Errorf("the daemon's process did not stop within a minute; killed\n%s", bd.stderr)
		}
	})
}

// memSample is a process's memory at one point: live heap after GC, and
// resident and proportional set after returning free memory to the OS.
type memSample struct{ heap, rss, pss uint64 }

func sampleMem() memSample {
	heap := liveHeap()
	debug.FreeOSMemory()
	rss, pss := procMem()
	return memSample{heap, rss, pss}
}

// procMem reads this process's resident set (Rss) and proportional set
// (Pss: shared pages divided among the processes sharing them, such as
// the test binary's text, which the fake's process maps too) from
// /proc/self/smaps_rollup, in bytes; where that file is missing, both
// are VmRSS from /proc/self/status. Zero where /proc is missing.
func procMem() (rss, pss uint64) {
	field := func(text, name string) uint64 {
		for _, line := range strings.Split(text, "\n") {
			if v, ok := strings.CutPrefix(line, name+":"); ok {
				kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				return kb << 10
			}
		}
		return 0
	}
	if b, err := os.ReadFile("/proc/self/smaps_rollup"); err == nil {
		return field(string(b), "Rss"), field(string(b), "Pss")
	}
	b, _ := os.ReadFile("/proc/self/status")
	rss = field(string(b), "VmRSS")
	return rss, rss
}
