package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/internal/unixsock"
)

// CheckListen checks a `[metrics] listen` value: empty (off), an
// absolute Unix socket path that fits a socket address, or host:port
// where host is a loopback address (127.0.0.0/8, ::1) or "localhost"
// and port is 0 (any free port) to 65535. Metrics are served without
// authentication, so nothing else is accepted; the error says why.
func CheckListen(addr string) error {
	if addr == "" {
		return nil
	}
	if filepath.IsAbs(addr) {
		if len(addr) > ctl.MaxSocketPath {
			return fmt.Errorf("metrics.listen: %q is %d bytes; Unix sockets allow at most %d", addr, len(addr), ctl.MaxSocketPath)
		}
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("metrics.listen: %q is neither an absolute Unix socket path nor host:port (such as 127.0.0.1:9464)", addr)
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || strconv.FormatUint(p, 10) != port {
		return fmt.Errorf("metrics.listen: %q: port %q is not a number from 0 to 65535", addr, port)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("metrics.listen: %q is not a loopback address: metrics are served without authentication, so only 127.0.0.0/8, [::1], localhost or a Unix socket path are allowed (put a proxy with TLS and authentication in front to scrape from elsewhere)", addr)
	}
	return nil
}

// Listen opens addr, which CheckListen accepted and is not empty. A
// host:port must resolve to a loopback address (an /etc/hosts or a DNS
// server that makes localhost something else is an error). A Unix
// socket is made mode 0660 (and given group gid unless gid is -1); a
// stale socket file left by a crash is replaced, but one that answers
// means another process serves there, which is an error.
func Listen(addr string, gid int) (net.Listener, error) {
	if err := CheckListen(addr); err != nil {
		return nil, err
	}
	if !filepath.IsAbs(addr) {
		ln, err := listenTCP("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("metrics.listen: %w", err)
		}
		// "localhost" is whatever /etc/hosts or DNS make of it.
		if a, ok := ln.Addr().(*net.TCPAddr); !ok || !a.IP.IsLoopback() {
			ln.Close()
			return nil, fmt.Errorf("metrics.listen: %q would serve on %s, which is not a loopback address (metrics are served without authentication): write 127.0.0.1 or [::1] instead", addr, ln.Addr())
		}
		return ln, nil
	}
	ln, err := unixsock.Listen(addr, gid)
	if err != nil {
		return nil, fmt.Errorf("metrics.listen: %w", err)
	}
	return ln, nil
}

// listenTCP is net.Listen; a test seam.
var listenTCP = net.Listen

// Server serves /metrics on a listener.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// Serve serves m's Handler at /metrics on ln, and a line pointing to it
// at /, until Close.
func Serve(ln net.Listener, m *Metrics, log *slog.Logger) *Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "wad: Prometheus metrics are at /metrics")
	})
	s := &Server{
		ln:   ln,
		done: make(chan struct{}),
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      time.Minute,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("serving metrics failed", "err", err)
		}
	}()
	return s
}

// Addr is the address served: a socket path, or host:port with the
// port chosen when the config said 0.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops serving, letting scrapes in flight finish until ctx ends;
// a Unix socket's file is removed.
func (s *Server) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, s.srv.Close())
	}
	<-s.done
	return err
}
