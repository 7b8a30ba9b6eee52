package ctl_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
)

// fakeDaemon serves one connection on a real Unix socket: for every
// request it reads it writes, in one write, the lines answer returns. It
// returns the socket path.
func fakeDaemon(t *testing.T, answer func(method string, id json.RawMessage) []string) string {
	t.Helper()
	path, ln := listenTemp(t)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			var req struct {
				ID     json.RawMessage `json:"id"`
				Method string          `json:"method"`
			}
			json.Unmarshal(sc.Bytes(), &req)
			if lines := answer(req.Method, req.ID); len(lines) > 0 {
				if _, err := c.Write([]byte(strings.Join(lines, "\n") + "\n")); err != nil {
					return
				}
			}
		}
	}()
	return path
}

// listenTemp listens on a Unix socket in a fresh short directory (a
// t.TempDir() path can exceed the socket path limit); both go at cleanup.
func listenTemp(t *testing.T) (string, net.Listener) {
	t.Helper()
	dir, err := os.MkdirTemp("", "ctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "wad.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return path, ln
}

func result(id json.RawMessage, v string) string {
	return `{"jsonrpc":"2.0","id":` + string(id) + `,"result":` + v + `}`
}

func event(sub, text string) string {
	return `{"jsonrpc":"2.0","method":"event","params":{"subscription":"` + sub + `","client":"sales","kind":"message","message":{"id":"M","text":"` + text + `"}}}`
}

func heap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func TestClosedWatcherKeepsNoEvents(t *testing.T) {
	text := strings.Repeat("x", 1024)
	n := 0
	socket := fakeDaemon(t, func(method string, id json.RawMessage) []string {
		switch method {
		case ctl.MethodSubscribe:
			n++
			return []string{result(id, fmt.Sprintf(`{"subscription":"sub-%d"}`, n))}
		case ctl.MethodUnsubscribe:
			// A daemon that goes on sending events of the closed
			// subscription.
			lines := []string{result(id, `{"ok":true}`)}
			for range 1100 {
				lines = append(lines, event(fmt.Sprintf("sub-%d", n), text))
			}
			return lines
		}
		return []string{result(id, `{"version":"fake"}`)}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := ctl.Dial(ctx, socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	before := heap()
	for range 8 {
		w, err := c.Watch(ctx, ctl.SubscribeParams{})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// The version reply comes after every event: they have been read.
	if _, err := c.Version(ctx); err != nil {
		t.Fatal(err)
	}
	if grown := int64(heap()) - int64(before); grown > 4<<20 {
		t.Fatalf("the client holds %.1f MB after the events of closed watchers", float64(grown)/(1<<20))
	}
}

func TestEventRightBehindTheSubscribeReplyReachesTheWatcher(t *testing.T) {
	n := 0
	socket := fakeDaemon(t, func(method string, id json.RawMessage) []string {
		n++
		sub := fmt.Sprintf("sub-%d", n)
		return []string{result(id, `{"subscription":"`+sub+`"}`), event(sub, "first")}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := ctl.Dial(ctx, socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 50 {
		w, err := c.Watch(ctx, ctl.SubscribeParams{})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case ev := <-w.C:
			if ev.Subscription != w.ID || ev.Message.Text != "first" {
				t.Fatalf("watcher %s got %+v", w.ID, ev)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("the event right behind the reply of %s was lost", w.ID)
		}
	}
}

// TestCallDialsAgainOnlyWhenTheDaemonReadNothing: a daemon that shuts
// down stops reading (or closes) the connections it accepted, after
// answering what it read; a request written after that point was
// provably not read and goes out once more on a new connection (with
// socket activation, to the next daemon), whether or not earlier calls,
// all answered, went on the connection (wactl status makes two). A
// connection that ends while a call awaits its reply is not redialled
// for that call: the client cannot know what became of it.
func TestCallDialsAgainOnlyWhenTheDaemonReadNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		// end ends the first connection the way a shutting-down daemon
		// does.
		end func(*net.UnixConn)
		// first: the number of calls the first connection answers
		// before it ends.
		first int
		// dials: the connections the client makes in all; ok: whether
		// the last call succeeds.
		dials int
		ok    bool
	}{
		{"stops reading before the first request", func(c *net.UnixConn) { c.CloseRead() }, 0, 2, true},
		{"closes before the first request", func(c *net.UnixConn) { c.Close() }, 0, 2, true},
		{"stops reading after a request", func(c *net.UnixConn) { c.CloseRead() }, 1, 2, true},
		{"closes after a request", func(c *net.UnixConn) { c.Close() }, 1, 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, ln := listenTemp(t)
			ended := make(chan struct{})
			go func() {
				for n := 0; ; n++ {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					go func() {
						defer c.Close()
						sc := bufio.NewScanner(c)
						answered := 0
						for {
							if n == 0 && answered == tc.first {
								tc.end(c.(*net.UnixConn))
								close(ended)
							}
							if !sc.Scan() {
								return
							}
							var req struct {
								ID json.RawMessage `json:"id"`
							}
							json.Unmarshal(sc.Bytes(), &req)
							c.Write([]byte(result(req.ID, `{"version":"v"}`) + "\n"))
							answered++
						}
					}()
				}
			}()
			dials := 0
			cl := &ctl.Client{Socket: path, Dial: func(ctx context.Context, p string) (net.Conn, error) {
				dials++
				var d net.Dialer
				c, err := d.DialContext(ctx, "unix", p)
				if dials == 1 && tc.first == 0 {
					<-ended // the request comes after the daemon's end
				}
				return c, err
			}}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for range tc.first {
				if _, err := cl.Version(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if tc.first > 0 {
				<-ended
			}
			_, err := cl.Version(ctx)
			if (err == nil) != tc.ok || dials != tc.dials {
				t.Fatalf("call after the daemon stopped reading: err %v, %d dials; want ok %v, %d dials", err, dials, tc.ok, tc.dials)
			}
		})
	}
}
