package daemon

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
)

// TestDoctorCacheRunOutlivesItsFirstCallerNotTheLast prevents two
// failures of the shared doctor run: a run cut short because the call
// that started it went away while another still waited (that one would
// get half-made findings), and a run that goes on after every caller
// left (a stopping daemon's browser and store reads left running) and
// whose cut-short findings are then served to the next caller.
func TestDoctorCacheRunOutlivesItsFirstCallerNotTheLast(t *testing.T) {
	dc := &doctorCache{ttl: time.Hour}
	var runs atomic.Int32
	release := make(chan struct{})
	cancelled := make(chan struct{}, 4)
	check := func(ctx context.Context) []ctl.Finding {
		n := runs.Add(1)
		select {
		case <-release:
			return []ctl.Finding{{Check: ctl.CheckDisk, Status: ctl.FindingOK, Message: "run " + string('0'+rune(n))}}
		case <-ctx.Done():
			cancelled <- struct{}{}
			return []ctl.Finding{{Check: ctl.CheckDisk, Status: ctl.FindingFail, Message: "cut short"}}
		}
	}

	first, leave := context.WithCancel(context.Background())
	firstErr := make(chan error, 1)
	go func() { _, err := dc.get(first, "", check); firstErr <- err }()
	waitFor(t, func() bool { return runs.Load() == 1 })
	second := make(chan []ctl.Finding, 1)
	go func() { fs, _ := dc.get(context.Background(), "", check); second <- fs }()
	waitFor(t, func() bool { dc.mu.Lock(); defer dc.mu.Unlock(); return dc.run.waiters == 2 })
	leave()
	if err := <-firstErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("the caller that left: %v", err)
	}
	close(release)
	if fs := <-second; len(fs) != 1 || fs[0].Message != "run 1" {
		t.Fatalf("the caller still waiting got %+v, want run 1's findings", fs)
	}
	if fs, _ := dc.get(context.Background(), "", check); len(fs) != 1 || fs[0].Message != "run 1" || runs.Load() != 1 {
		t.Fatalf("a call within the ttl: %+v after %d runs, want run 1's, one run", fs, runs.Load())
	}

	// Every caller leaves: the run is cancelled and not kept.
	dc = &doctorCache{ttl: time.Hour}
	runs.Store(0)
	release = make(chan struct{})
	only, leave := context.WithCancel(context.Background())
	go func() { _, err := dc.get(only, "", check); firstErr <- err }()
	waitFor(t, func() bool { return runs.Load() == 1 })
	leave()
	<-firstErr
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the run went on after its only caller left")
	}
	close(release)
	if fs, _ := dc.get(context.Background(), "", check); len(fs) != 1 || fs[0].Message != "run 2" {
		t.Fatalf("after a cancelled run: %+v, want a new run's findings", fs)
	}

	// Past the ttl the checks are made again.
	now := time.Now()
	dc.now = func() time.Time { return now }
	dc.run.ended = now.Add(-2 * time.Hour)
	if fs, _ := dc.get(context.Background(), "", check); len(fs) != 1 || fs[0].Message != "run 3" {
		t.Fatalf("past the ttl: %+v, want a new run's findings", fs)
	}
	if fs, _ := dc.get(context.Background(), "", check); len(fs) != 1 || fs[0].Message != "run 3" {
		t.Fatalf("within the ttl: %+v, want run 3's findings again", fs)
	}
	// Other sessions than the run saw: made again.
	if fs, _ := dc.get(context.Background(), "sales\x00whatsmeow\x00connected\x00\n", check); len(fs) != 1 || fs[0].Message != "run 4" {
		t.Fatalf("with other sessions: %+v, want a new run's findings", fs)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
