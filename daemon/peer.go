package daemon

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/wad-project/wad/ctl"
)

// peer is the process on the other end of a connection, read once from
// SO_PEERCRED when the connection is accepted.
type peer struct {
	ctl.Peer
	// Groups are the supplementary groups of the peer process at connect
	// time (from /proc/PID/status), for [[access]] group rules.
	Groups []int
}

// readPeer returns the kernel's credentials of c's peer.
func readPeer(c net.Conn) (*peer, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return nil, fmt.Errorf("not a unix socket connection: %T", c)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	if serr != nil {
		return nil, fmt.Errorf("SO_PEERCRED: %w", serr)
	}
	p := &peer{Peer: ctl.Peer{PID: int(cred.Pid), UID: int(cred.Uid), GID: int(cred.Gid)}}
	p.Groups = procGroups(p.PID)
	return p, nil
}

// procGroups reads the supplementary groups of pid; nil if it cannot.
func procGroups(pid int) []int {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "Groups:")
		if !ok {
			continue
		}
		var gs []int
		for _, f := range strings.Fields(rest) {
			if g, err := strconv.Atoi(f); err == nil {
				gs = append(gs, g)
			}
		}
		return gs
	}
	return nil
}

type peerKey struct{}

func withPeer(ctx context.Context, p *peer) context.Context {
	return context.WithValue(ctx, peerKey{}, p)
}

// peerFrom returns the peer of the connection a request came in on.
func peerFrom(ctx context.Context) *peer {
	p, _ := ctx.Value(peerKey{}).(*peer)
	return p
}
