package daemon

import (
	"context"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// hangupPoll is how often a long call looks whether its caller is gone.
const hangupPoll = 250 * time.Millisecond

// hungUp reports whether the peer of a Unix socket has closed its end
// entirely. A half-close (the peer shut down only its write side, as
// `socat` does at the end of its input) does not count: that peer still
// reads its replies. Linux reports the difference in poll: POLLHUP only
// once both directions are shut.
func hungUp(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	hup := false
	rc.Control(func(fd uintptr) {
		p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if n, err := unix.Poll(p, 0); err == nil && n == 1 {
			hup = p[0].Revents&(unix.POLLHUP|unix.POLLERR) != 0
		}
	})
	return hup
}

// whileCallerListens returns a context for a long call (contact.check)
// that also ends when its caller has closed the connection: such a call
// would otherwise run on until its reply failed to be written.
func whileCallerListens(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	cs := connFrom(ctx)
	if cs == nil || cs.conn == nil {
		return ctx, cancel
	}
	go func() {
		t := time.NewTicker(hangupPoll)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if hungUp(cs.conn) {
					cancel()
					return
				}
			}
		}
	}()
	return ctx, cancel
}
