package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"

	"github.com/coreos/go-systemd/v22/activation"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/internal/unixsock"
)

// listener is the control socket with what it takes to close it right.
type listener struct {
	net.Listener
	// Path is the socket's path ("" if systemd passed an unnamed one).
	Path string
	// Activated is true for a listener from systemd (wad.socket): the
	// daemon never unlinks it, so clients queue up across a restart.
	Activated bool
}

// listen returns the systemd-passed listener if there is one, else its
// own socket at path: the parent directory is created 0750, a live daemon
// already answering there is an error, a stale socket file is removed, the
// new socket is chmod 0660 (and chowned to group when set). Its own socket
// is removed when the listener closes.
func listen(path, group string, log *slog.Logger) (*listener, error) {
	ls, err := activation.Listeners()
	if err != nil {
		return nil, fmt.Errorf("systemd socket activation: %w", err)
	}
	for _, l := range ls {
		if l == nil {
			continue
		}
		if ul, ok := l.(*net.UnixListener); ok {
			ul.SetUnlinkOnClose(false)
			p := ul.Addr().String()
			log.Info("using the socket passed by systemd", "socket", p)
			return &listener{Listener: ul, Path: p, Activated: true}, nil
		}
		l.Close()
	}

	if len(path) > ctl.MaxSocketPath {
		return nil, fmt.Errorf("socket path %q is %d bytes; Unix sockets allow at most %d", path, len(path), ctl.MaxSocketPath)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("creating socket directory: %w", err)
	}
	gid := -1
	if group != "" {
		g, err := lookupGID(group)
		if err != nil {
			return nil, fmt.Errorf("socket_group %q: %w", group, err)
		}
		gid = g
	}
	ul, err := unixsock.Listen(path, gid)
	if errors.Is(err, unixsock.ErrInUse) {
		return nil, fmt.Errorf("another wad is already running on %s (stop it first, or set a different socket)", path)
	}
	if err != nil {
		return nil, err
	}
	return &listener{Listener: ul, Path: path}, nil
}

func lookupGID(group string) (int, error) {
	if id, err := strconv.Atoi(group); err == nil {
		return id, nil
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(g.Gid)
}
