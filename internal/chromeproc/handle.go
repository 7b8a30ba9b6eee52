package chromeproc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// Handle is a hold on one Chrome process for signalling it. With a pidfd
// (Linux 5.3+) signals go to exactly the process that was inspected, even
// if its pid is reused meanwhile; without one, the start time is checked
// right before kill(2), which leaves only a microsecond-wide window.
type Handle struct {
	Chrome
	fd int // pidfd, or -1
}

// ErrGone says the process exited (or its pid now names another process)
// before it could be taken hold of.
var ErrGone = errors.New("process already gone")

// Open takes hold of c. It returns an error wrapping ErrGone when c has
// exited or its pid was reused, and another error when pidfd_open fails
// for a reason other than missing support (ENOSYS, or EPERM under a
// seccomp filter), which falls back to kill(2). Close releases the pidfd.
func Open(c Chrome) (*Handle, error) {
	h := &Handle{Chrome: c, fd: -1}
	fd, err := unix.PidfdOpen(c.PID, 0)
	switch {
	case err == nil:
		h.fd = fd
	case errors.Is(err, unix.ESRCH):
		return nil, ErrGone
	case errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EPERM):
	default:
		return nil, fmt.Errorf("pidfd_open %d: %w", c.PID, err)
	}
	// A pidfd opened on a reused pid names the new process.
	if !c.Same() {
		h.Close()
		return nil, ErrGone
	}
	return h, nil
}

// Close releases the pidfd. It is safe to call twice.
func (h *Handle) Close() {
	if h.fd >= 0 {
		unix.Close(h.fd)
		h.fd = -1
	}
}

// Signal sends sig. A process that is already gone is not an error; the
// error is kill(2)'s or pidfd_send_signal(2)'s otherwise (EPERM).
func (h *Handle) Signal(sig unix.Signal) error {
	var err error
	if h.fd >= 0 {
		err = unix.PidfdSendSignal(h.fd, sig, nil, 0)
	} else {
		if !h.Same() {
			return nil
		}
		err = unix.Kill(h.PID, sig)
	}
	if err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("%s to pid %d: %w", unix.SignalName(sig), h.PID, err)
	}
	return nil
}

// Exited reports whether the process has exited (a zombie counts).
func (h *Handle) Exited() bool {
	if h.fd < 0 {
		return !h.Same()
	}
	fds := []unix.PollFd{{Fd: int32(h.fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n > 0
}

// WaitAll waits until every handle has exited or the deadline passes, and
// returns those still running. The error is ctx's when it ended first
// (with the handles still running then), or poll(2)'s. A pidfd becomes
// readable when its process exits, so this sleeps in poll(2) rather than
// spinning.
func WaitAll(ctx context.Context, hs []*Handle, deadline time.Time) ([]*Handle, error) {
	for {
		var alive []*Handle
		for _, h := range hs {
			if !h.Exited() {
				alive = append(alive, h)
			}
		}
		hs = alive
		left := time.Until(deadline)
		if len(hs) == 0 || left <= 0 {
			return hs, nil
		}
		if err := ctx.Err(); err != nil {
			return hs, err
		}
		step := min(left, 50*time.Millisecond)
		var fds []unix.PollFd
		for _, h := range hs {
			if h.fd >= 0 {
				fds = append(fds, unix.PollFd{Fd: int32(h.fd), Events: unix.POLLIN})
			}
		}
		if len(fds) == len(hs) {
			step = min(left, 250*time.Millisecond) // woken by exits; the step only bounds ctx latency
		}
		if len(fds) == 0 {
			time.Sleep(step)
			continue
		}
		if _, err := unix.Poll(fds, int(step.Milliseconds())+1); err != nil && !errors.Is(err, unix.EINTR) {
			return hs, fmt.Errorf("poll: %w", err)
		}
	}
}

// KillTree sends SIGKILL to the process group pgid (when pgid > 0) and,
// through Handles, to every process Ours(dir) lists, and repeats that
// every 50ms until Ours(dir) lists none or wait has passed. It reports
// whether none is left (false also when the process list could not be
// read until the end).
func KillTree(pgid int, dir string, wait time.Duration) bool {
	deadline := time.Now().Add(wait)
	for {
		if pgid > 0 {
			_ = unix.Kill(-pgid, unix.SIGKILL)
		}
		left, err := Ours(dir)
		if err == nil && len(left) == 0 {
			return true
		}
		for _, c := range left {
			if h, err := Open(c); err == nil {
				_ = h.Signal(unix.SIGKILL)
				h.Close()
			}
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}
