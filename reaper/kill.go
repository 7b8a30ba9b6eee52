package reaper

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// handle is a process we may signal. With a pidfd (Linux 5.3+) signals go
// to exactly the process that was inspected, even if its pid is reused
// meanwhile; without one, the start time is checked right before kill(2),
// which leaves only a microsecond-wide window.
type handle struct {
	proc
	fd int // pidfd, or -1
}

// errGone says the process exited (or its pid now names another process)
// before we could take hold of it.
var errGone = errors.New("process already gone")

// openHandle takes hold of p. After the pidfd is open the start time is
// compared again: a pidfd opened on a reused pid names the new process.
func openHandle(p proc) (*handle, error) {
	h := &handle{proc: p, fd: -1}
	fd, err := unix.PidfdOpen(p.pid, 0)
	switch {
	case err == nil:
		h.fd = fd
	case errors.Is(err, unix.ESRCH):
		return nil, errGone
	case errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EPERM):
		// No pidfds (old kernel or seccomp): fall back to kill(2).
	default:
		return nil, fmt.Errorf("pidfd_open %d: %w", p.pid, err)
	}
	if !h.same() {
		h.close()
		return nil, errGone
	}
	return h, nil
}

// same reports whether p.pid still names the process we inspected.
func (h *handle) same() bool {
	state, _, start, err := readStat(h.pid)
	return err == nil && start == h.start && state != 'Z' && state != 'X'
}

func (h *handle) close() {
	if h.fd >= 0 {
		unix.Close(h.fd)
		h.fd = -1
	}
}

// signal sends sig. A process that is already gone is not an error.
func (h *handle) signal(sig unix.Signal) error {
	var err error
	if h.fd >= 0 {
		err = unix.PidfdSendSignal(h.fd, sig, nil, 0)
	} else {
		if !h.same() {
			return nil
		}
		err = unix.Kill(h.pid, sig)
	}
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s to pid %d: %w", unix.SignalName(sig), h.pid, err)
	}
	return nil
}

// exited reports whether the process has exited (a zombie counts).
func (h *handle) exited() bool {
	if h.fd < 0 {
		return !h.same()
	}
	fds := []unix.PollFd{{Fd: int32(h.fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n > 0
}

// waitAll waits until every handle has exited or the deadline passes, and
// returns those still running. A pidfd becomes readable when its process
// exits, so this sleeps in poll(2) rather than spinning.
func waitAll(ctx context.Context, hs []*handle, deadline time.Time) ([]*handle, error) {
	for {
		var alive []*handle
		for _, h := range hs {
			if !h.exited() {
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
		if len(fds) > 0 {
			_, err := unix.Poll(fds, int(step.Milliseconds())+1)
			if err != nil && !errors.Is(err, unix.EINTR) {
				return hs, fmt.Errorf("poll: %w", err)
			}
		} else {
			time.Sleep(step)
		}
	}
}
