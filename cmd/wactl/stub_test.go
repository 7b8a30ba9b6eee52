package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/wad-project/wad/ctl"
)

// stubRequest is one request as it reached the stub daemon: its method,
// its params exactly as sent, and the descriptors passed with its line.
type stubRequest struct {
	Method string
	Params json.RawMessage
	Files  []*os.File
	// Notify sends an event notification on the request's connection
	// (before the reply).
	Notify func(ctl.Event)
}

// decode unmarshals the params into v, failing the test on error.
func (r stubRequest) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Params, v); err != nil {
		t.Fatalf("%s params %s: %v", r.Method, r.Params, err)
	}
}

// stubDaemon answers wactl's requests on a real Unix socket with what
// handle returns, and records every request and what came with it. It
// stands in for the daemon where the test is about what wactl sends
// (params, descriptors) rather than what a backend does with it. Like
// the daemon, it closes the passed descriptors after the reply.
type stubDaemon struct {
	Socket string
	handle func(stubRequest) (any, *ctl.Error)

	mu   sync.Mutex
	reqs []stubRequest
}

func startStub(t *testing.T, handle func(stubRequest) (any, *ctl.Error)) *stubDaemon {
	t.Helper()
	dir, err := os.MkdirTemp("", "wactl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &stubDaemon{Socket: filepath.Join(dir, "stub.sock"), handle: handle}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: s.Socket, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.AcceptUnix()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); s.serve(c) }()
		}
	}()
	return s
}

// Calls returns what reached the stub so far but for the subscriptions
// wactl makes to follow what it asked for (events.*).
func (s *stubDaemon) Calls() []stubRequest {
	var out []stubRequest
	for _, r := range s.Requests() {
		if !strings.HasPrefix(r.Method, "events.") {
			out = append(out, r)
		}
	}
	return out
}

// Requests returns what reached the stub so far.
func (s *stubDaemon) Requests() []stubRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]stubRequest(nil), s.reqs...)
}

func (s *stubDaemon) serve(c *net.UnixConn) {
	defer c.Close()
	buf := make([]byte, 64<<10)
	oob := make([]byte, syscall.CmsgSpace(8*4))
	var pending []byte
	var fds []*os.File // passed since the last complete line
	for {
		n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
		if oobn > 0 {
			msgs, _ := syscall.ParseSocketControlMessage(oob[:oobn])
			for _, m := range msgs {
				rights, _ := syscall.ParseUnixRights(&m)
				for _, fd := range rights {
					fds = append(fds, os.NewFile(uintptr(fd), "passed"))
				}
			}
		}
		pending = append(pending, buf[:n]...)
		for {
			i := bytes.IndexByte(pending, '\n')
			if i < 0 {
				break
			}
			line := pending[:i]
			pending = pending[i+1:]
			s.answer(c, line, fds)
			fds = nil
		}
		if err != nil {
			for _, f := range fds {
				f.Close()
			}
			return
		}
	}
}

func (s *stubDaemon) answer(c *net.UnixConn, line []byte, files []*os.File) {
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	var req struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params json.RawMessage `json:"params"`
	}
	if json.Unmarshal(line, &req) != nil {
		return
	}
	r := stubRequest{Method: req.Method, Params: req.Params, Files: files, Notify: func(ev ctl.Event) {
		b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "method": ctl.NotifyEvent, "params": ev})
		c.Write(append(b, '\n'))
	}}
	s.mu.Lock()
	s.reqs = append(s.reqs, r)
	s.mu.Unlock()
	result, rerr := s.handle(r)
	then, _ := result.(stubThen)
	if then.Then != nil {
		result = then.Result
	}
	reply := map[string]any{"jsonrpc": "2.0", "id": req.ID}
	if rerr != nil {
		reply["error"] = map[string]any{"code": rerr.Code, "message": rerr.Message}
	} else {
		reply["result"] = result
	}
	b, _ := json.Marshal(reply)
	c.Write(append(b, '\n'))
	if then.Then != nil {
		then.Then()
	}
}

// stubThen is a result after whose reply the stub calls Then, on the
// connection's goroutine: a subscribe's events go there (Notify), as
// the daemon sends none before its reply.
type stubThen struct {
	Result any
	Then   func()
}
