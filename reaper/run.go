package reaper

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/wad-project/wad/internal/bytesize"
	"github.com/wad-project/wad/internal/chromeproc"
	"golang.org/x/sys/unix"
)

// StartMessage is logged first by every Run; operators grep for it.
const StartMessage = "Cleaning up session directories and processes on startup"

// killRounds bounds how often Run rescans and SIGKILLs: a browser that
// forks while being killed needs a second round; more than a few means
// something keeps starting them.
const killRounds = 4

// killWait bounds the wait for SIGKILLed processes to be gone; only a
// process stuck in the kernel (state D) takes longer.
const killWait = 10 * time.Second

// Options is one Run.
type Options struct {
	// StateDir is wad's state directory (the daemon's state_dir).
	StateDir string
	// Config is the [reaper] table.
	Config Config
	// DryRun makes Run change nothing: it writes the plan to Out and
	// returns a Summary of what it would do.
	DryRun bool
	// Log receives the start message, one line per process signalled, per
	// login quarantined and per tree removed, and the summary line. Nil
	// means slog.Default().
	Log *slog.Logger
	// Out receives the dry-run plan, one action per line. Nil discards it.
	Out io.Writer
}

// Summary is what a Run did (or, with DryRun, would do).
type Summary struct {
	DryRun bool
	Mode   string
	// Found is the number of processes found belonging to the state dir.
	Found int
	// Signalled is the number of browser main processes sent SIGTERM.
	Signalled int
	// Killed is the number of processes sent SIGKILL (the browsers that
	// outlived kill_timeout and whatever was left of their children).
	Killed int
	// Removed counts removed entries (files, links, directories).
	Removed int
	// Bytes is the total size of the removed regular files.
	Bytes int64
	// StaleLocks is the number of profiles whose Singleton* files were
	// removed (mode preserve).
	StaleLocks int
	// Quarantined is the number of logins moved to a quarantine for the
	// daemon to unlink (mode reset): one per chromedp profile, and one
	// for the whatsmeow store, whatever number of devices it holds.
	Quarantined int
	// Took is the wall time of the Run.
	Took time.Duration
}

// String is the one-line summary `wad reap` logs.
func (s Summary) String() string {
	verb := "reaped"
	if s.DryRun {
		verb = "dry run, would have"
	}
	extra := ""
	switch s.Mode {
	case ModePreserve:
		extra = fmt.Sprintf(" (%d stale profile locks)", s.StaleLocks)
	case ModeReset:
		extra = fmt.Sprintf(", %d logins quarantined to unlink", s.Quarantined)
	}
	return fmt.Sprintf("%s (mode %s): %d processes signalled, %d killed, %d entries removed%s, %s freed, took %s",
		verb, s.Mode, s.Signalled, s.Killed, s.Removed, extra, bytesize.Format(s.Bytes), s.Took.Round(time.Millisecond))
}

// Run cleans the state directory o.StateDir: it kills the Chrome processes
// whose profiles lie inside it, then removes the files the mode says.
//
// It returns an error wrapping ErrRefused, having touched nothing, when
// the configuration is invalid or the state directory cannot be ours (see
// the package doc). It returns another error when it could not make the
// state clean: a process of ours survived SIGKILL, an entry could not be
// removed, or ctx ended; it still does all it can and the Summary counts
// what was done. A nil error means no process of ours is left and the
// files are as the mode wants them. Unless refused or a dry run, it
// leaves its Summary and error in the state directory's ReportFile.
func Run(ctx context.Context, o Options) (Summary, error) {
	begin := time.Now()
	log := o.Log
	if log == nil {
		log = slog.Default()
	}
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	cfg := o.Config.Effective()
	s := Summary{DryRun: o.DryRun, Mode: cfg.Mode}
	log.Info(StartMessage, "state_dir", o.StateDir, "mode", cfg.Mode, "dry_run", o.DryRun)
	if err := o.Config.Validate(); err != nil {
		return s, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	uid := os.Geteuid()
	dir, err := checkStateDir(o.StateDir, uid)
	if err != nil {
		return s, err
	}
	r := &run{ctx: ctx, o: o, cfg: cfg, dir: dir, uid: uid, log: log, out: out, s: &s, now: time.Now}
	err = errors.Join(r.processes(), r.files())
	s.Took = time.Since(begin)
	log.Info(s.String(), "signalled", s.Signalled, "killed", s.Killed, "removed", s.Removed,
		"bytes", s.Bytes, "quarantined", s.Quarantined, "took", s.Took, "dry_run", s.DryRun)
	if !o.DryRun {
		// For the daemon's metrics; a report it cannot write fails no
		// cleanup.
		if werr := writeReport(dir, newReport(s, err, time.Now())); werr != nil {
			log.Warn("the reaper's report for the daemon's metrics was not written", "err", werr)
		}
	}
	return s, err
}

// run is the state of one Run.
type run struct {
	ctx context.Context
	o   Options
	cfg Config
	dir string // resolved state directory
	uid int    // the running (effective) uid
	log *slog.Logger
	out io.Writer
	s   *Summary
	now func() time.Time
}

// processes kills ours: SIGTERM to the browsers, a wait of up to
// KillTimeout, then rounds of rescanning and SIGKILL until none is left.
func (r *run) processes() error {
	ours, err := chromeproc.Ours(r.dir)
	if err != nil {
		return err
	}
	r.s.Found = len(ours)
	if r.o.DryRun {
		for _, p := range ours {
			if p.Main {
				r.s.Signalled++
				fmt.Fprintf(r.out, "would send SIGTERM to %s\n", p)
			} else {
				fmt.Fprintf(r.out, "would send SIGKILL after %s to %s if still running\n", r.cfg.KillTimeout, p)
			}
		}
		return nil
	}
	var hs []*chromeproc.Handle
	defer func() {
		for _, h := range hs {
			h.Close()
		}
	}()
	var errs []error
	held := make(map[key]bool)
	take := func(ps []chromeproc.Chrome) []*chromeproc.Handle {
		var fresh []*chromeproc.Handle
		for _, p := range ps {
			if held[keyOf(p.Proc)] {
				continue
			}
			h, err := chromeproc.Open(p)
			if errors.Is(err, chromeproc.ErrGone) {
				continue
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			held[keyOf(p.Proc)] = true
			hs = append(hs, h)
			fresh = append(fresh, h)
		}
		return fresh
	}
	take(ours)
	signalled := 0
	sigtermed := make(map[key]bool)
	for _, h := range hs {
		if !h.Main {
			continue
		}
		if err := h.Signal(unix.SIGTERM); err != nil {
			errs = append(errs, err)
			continue
		}
		signalled++
		sigtermed[keyOf(h.Proc)] = true
		r.log.Info("Sent SIGTERM to stale browser", "pid", h.PID, "profile", h.Profile)
	}
	r.s.Signalled = signalled
	// Wait for the signalled browsers and their descendants (which a
	// browser shuts down itself); what has no signalled browser above it
	// (orphaned renderers, a non-signallable browser) is not waited for.
	var waiting, rest []*chromeproc.Handle
	byPid := make(map[int]*chromeproc.Handle, len(hs))
	for _, h := range hs {
		byPid[h.PID] = h
	}
	for _, h := range hs {
		if underSignalled(h, byPid, sigtermed) {
			waiting = append(waiting, h)
		} else {
			rest = append(rest, h)
		}
	}
	alive := rest
	if len(waiting) > 0 {
		left, err := chromeproc.WaitAll(r.ctx, waiting, time.Now().Add(r.cfg.KillTimeout))
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
		alive = append(alive, left...)
	}
	killed := make(map[key]bool)
	for round := 0; ; round++ {
		// A fresh scan finds children forked since the first one.
		again, err := chromeproc.Ours(r.dir)
		if err != nil {
			errs = append(errs, err)
		}
		alive = append(alive, take(again)...)
		var next []*chromeproc.Handle
		for _, h := range alive {
			if h.Exited() {
				continue
			}
			next = append(next, h)
		}
		alive = next
		if len(alive) == 0 {
			break
		}
		if round == killRounds {
			for _, h := range alive {
				errs = append(errs, fmt.Errorf("%s survived SIGKILL", h.Chrome))
			}
			break
		}
		for _, h := range alive {
			if err := h.Signal(unix.SIGKILL); err != nil {
				errs = append(errs, err)
				continue
			}
			if !killed[keyOf(h.Proc)] {
				killed[keyOf(h.Proc)] = true
				r.s.Killed++
				level := slog.LevelDebug // a browser's children are many
				if h.Main {
					level = slog.LevelInfo
				}
				r.log.Log(r.ctx, level, "Sent SIGKILL to stale browser process", "pid", h.PID, "main", h.Main, "profile", h.Profile)
			}
		}
		alive, err = chromeproc.WaitAll(r.ctx, alive, time.Now().Add(killWait))
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
	}
	return errors.Join(errs...)
}

// key identifies a process across scans: pid and start time are
// together unique for the life of the system.
type key struct {
	pid   int
	start uint64
}

func keyOf(p chromeproc.Proc) key { return key{p.PID, p.Start} }

// underSignalled reports whether h or one of its ancestors among the
// handles was sent SIGTERM.
func underSignalled(h *chromeproc.Handle, byPid map[int]*chromeproc.Handle, sigtermed map[key]bool) bool {
	for hop := 0; h != nil && hop <= len(byPid); hop++ {
		if sigtermed[keyOf(h.Proc)] {
			return true
		}
		h = byPid[h.PPID]
	}
	return false
}

// remove removes the entry name of the state directory open as stateFd,
// and everything below it (removeTree).
func (r *run) remove(stateFd int, name string) error {
	path := filepath.Join(r.dir, name)
	var t tally
	removeTree(stateFd, name, path, r.o.DryRun, &t)
	r.removed(path, &t)
	return t.err()
}

// removed counts and reports (logs, or in a dry run writes to the plan)
// what a removal below path removed.
func (r *run) removed(path string, t *tally) {
	r.s.Removed += t.entries
	r.s.Bytes += t.bytes
	if t.entries > 0 {
		if r.o.DryRun {
			fmt.Fprintf(r.out, "would remove %s (%d entries, %s)\n", path, t.entries, bytesize.Format(t.bytes))
		} else {
			r.log.Info("Removed", "path", path, "entries", t.entries, "bytes", t.bytes)
		}
	}
}

// files removes what the mode says, relative to the state directory open
// by descriptor so that nothing outside it can be reached.
func (r *run) files() error {
	stateFd, err := openDir(r.dir)
	if err != nil {
		return err
	}
	defer unix.Close(stateFd)
	var errs []error
	switch r.cfg.Mode {
	case ModeReset:
		errs = append(errs, r.resetAuth(stateFd), r.remove(stateFd, CacheDir))
	case ModePreserve:
		errs = append(errs, r.remove(stateFd, CacheDir))
		host, err := os.Hostname()
		if err != nil {
			errs = append(errs, fmt.Errorf("hostname for profile locks: %w", err))
			break
		}
		var t tally
		for _, a := range clearStaleLocks(stateFd, filepath.Join(r.dir, AuthDir), host, r.o.DryRun, &t) {
			switch {
			case a.status != chromeproc.LockStale:
				r.log.Info("Keeping profile lock", "profile", a.profile, "lock", a.target, "status", a.status.String())
			case r.o.DryRun:
				r.s.StaleLocks++
				for _, f := range a.files {
					fmt.Fprintf(r.out, "would remove %s (stale lock %s)\n", f, a.target)
				}
			default:
				r.s.StaleLocks++
				r.log.Info("Removed stale profile lock", "profile", a.profile, "lock", a.target)
			}
		}
		r.s.Removed += t.entries
		r.s.Bytes += t.bytes
		if err := t.err(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
