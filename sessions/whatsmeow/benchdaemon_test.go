package whatsmeow_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
)

// benchDaemonEnv holds, as JSON, the childDaemonConfig of the test
// binary re-executed as the daemon BenchmarkConnectedSessions measures
// (TestMain checks it): a real daemon in a process that has done nothing
// else, so that its memory is the daemon's alone.
const benchDaemonEnv = "WAD_BENCH_DAEMON"

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
	before := sampleMem()
	// Warnings and errors go to stderr, which the parent shows if the
	// benchmark fails.
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d, err := newChildDaemon(ctx, benchDaemonEnv, log)
	if err != nil {
		return fail(err)
	}
	served := make(chan error, 1)
	go func() { served <- serveChildDaemon(ctx, d) }()
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
	return 0
}

// benchDaemon is the parent's handle on a measured daemon's process.
type benchDaemon struct {
	// Client is connected to the daemon's socket.
	Client *ctl.Client
	// Before is the process's memory before the daemon started.
	Before memSample

	*childProcess
	once sync.Once
}

// startBenchDaemon starts the measured daemon's process and connects to
// its socket; it stops with tb.
func startBenchDaemon(tb testing.TB, cfg childDaemonConfig) *benchDaemon {
	tb.Helper()
	bd := &benchDaemon{childProcess: startChild(tb, benchDaemonEnv, cfg)}
	tb.Cleanup(func() { bd.Stop(tb) })
	var f []string
	line, err := bd.stdout.ReadString('\n')
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
	if _, err := io.WriteString(bd.stdin, "mem\n"); err != nil {
		return memSample{}, 0, err
	}
	line, err := bd.stdout.ReadString('\n')
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
		bd.stdin.Close()
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
