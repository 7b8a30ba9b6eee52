package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/activation"

	"github.com/wad-project/wad/ctl"
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
	if err := removeStale(path); err != nil {
		return nil, err
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("another wad is already listening on %s", path)
		}
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	ul := l.(*net.UnixListener)
	ul.SetUnlinkOnClose(true)
	if err := os.Chmod(path, 0o660); err != nil {
		ul.Close()
		return nil, fmt.Errorf("chmod socket: %w", err)
	}
	if group != "" {
		gid, err := lookupGID(group)
		if err == nil {
			err = os.Chown(path, -1, gid)
		}
		if err != nil {
			ul.Close()
			return nil, fmt.Errorf("socket_group %q: %w", group, err)
		}
	}
	return &listener{Listener: ul, Path: path}, nil
}

// removeStale removes a socket file nobody answers on. A live daemon, or a
// path that is not a socket, is an error: wad never deletes what it does
// not own.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket; refusing to replace it", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("another wad is already running on %s (stop it first, or set a different socket)", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("probing %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing stale socket: %w", err)
	}
	return nil
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
