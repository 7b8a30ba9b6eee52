package chromedp

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/sessions"
)

// fakeWA serves testdata's fake WhatsApp Web on loopback and plays
// WhatsApp's servers and the phone: it "scans" QR codes, keeps the
// phone's list of linked devices (a device is linked once its page paired
// and until the page logs out or the phone unlinks it), delivers incoming
// messages, and records what the page sent.
type fakeWA struct {
	srv *httptest.Server

	mu       sync.Mutex
	scanned  map[string]bool
	unlinked map[string]bool
	linked   map[string]bool // the phone's "Linked devices"
	logouts  map[string]int  // in-page logouts, per device
	incoming map[string][]map[string]any
	sent     []sentMsg
	events   map[string][]string
	media    map[string]*storedMedia // by direct path: uploads and incoming media
	nextPath int
	// directory is what the fake's WhatsApp servers know of people and
	// invite codes (see social_test.go); the page asks it where WhatsApp
	// Web would query the server.
	directory fakeDirectory
	// refuseText makes the server refuse text messages with this body.
	refuseText string
}

// sentMsg is what a page sent: a message (Kind "msg"), a reaction, an
// edit, a revoke, a seen or a chat state.
type sentMsg struct {
	Device, Kind, To, From, Body, ID string
	// Messages.
	Type, Caption, Mimetype, Filename string
	Filehash                          string // base64 SHA-256, as the page computed it
	DirectPath                        string // of the upload
	Size                              int64
	Quoted                            string
	Mentions                          []string
	Lat, Lng                          float64
	Loc, VCardName                    string
	Waveform                          int // bars of the voice note's waveform
	// Reactions, edits and revokes name their target; reactions their
	// emoji; chat states the state.
	Target, Emoji, State string
	// Groups: who was added, removed, promoted or demoted, the setting
	// changed (prop, value) and WhatsApp's status for an add; pictures:
	// the size of the full picture.
	Participants  []string
	Prop          string
	Value, Code   int
	Width, Height int
}

// storedMedia is a file on the fake's media servers.
type storedMedia struct {
	Device, Type, Mime, MediaKey string
	Data                         []byte
}

func newFakeWA(t testing.TB) *fakeWA {
	t.Helper()
	f := &fakeWA{
		scanned:  map[string]bool{},
		unlinked: map[string]bool{},
		linked:   map[string]bool{},
		logouts:  map[string]int{},
		incoming: map[string][]map[string]any{},
		events:   map[string][]string{},
		media:    map[string]*storedMedia{},
	}
	index, err := os.ReadFile(filepath.Join("testdata", "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	js, err := os.ReadFile(filepath.Join("testdata", "fake.js"))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/fake.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		w.Write(js)
	})
	mux.HandleFunc("/api/poll", func(w http.ResponseWriter, r *http.Request) {
		d := r.URL.Query().Get("device")
		f.mu.Lock()
		resp := map[string]any{"scanned": f.scanned[d], "unlinked": f.unlinked[d], "incoming": f.incoming[d]}
		delete(f.incoming, d)
		f.mu.Unlock()
		json.NewEncoder(w).Encode(resp)
	})
	device := func(w http.ResponseWriter, r *http.Request) (string, bool) {
		var m struct{ Device string }
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil || m.Device == "" {
			http.Error(w, fmt.Sprintf("no device: %v", err), 400)
			return "", false
		}
		return m.Device, true
	}
	mux.HandleFunc("POST /api/paired", func(w http.ResponseWriter, r *http.Request) {
		d, ok := device(w, r)
		if !ok {
			return
		}
		f.mu.Lock()
		f.linked[d] = true
		f.mu.Unlock()
	})
	mux.HandleFunc("POST /api/logout", func(w http.ResponseWriter, r *http.Request) {
		d, ok := device(w, r)
		if !ok {
			return
		}
		f.mu.Lock()
		f.logouts[d]++
		delete(f.linked, d)
		delete(f.scanned, d) // a new login needs a new scan
		f.mu.Unlock()
	})
	mux.HandleFunc("/api/sent", func(w http.ResponseWriter, r *http.Request) {
		var m sentMsg
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		if m.Kind == "" {
			m.Kind = "msg"
		}
		f.mu.Lock()
		refuse := m.Kind == "msg" && f.refuseText != "" && m.Body == f.refuseText
		f.mu.Unlock()
		if refuse {
			http.Error(w, "refused", http.StatusServiceUnavailable)
			return
		}
		f.mu.Lock()
		f.sent = append(f.sent, m)
		f.mu.Unlock()
	})
	mux.HandleFunc("POST /api/upload", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		data, err := io.ReadAll(r.Body)
		if err != nil || q.Get("device") == "" {
			http.Error(w, fmt.Sprintf("bad upload: %v", err), 400)
			return
		}
		path, key := f.store(&storedMedia{Device: q.Get("device"), Type: q.Get("type"), Mime: q.Get("mime"), Data: data})
		json.NewEncoder(w).Encode(map[string]string{"directPath": path, "mediaKey": key})
	})
	mux.HandleFunc("GET /api/media", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		m := f.media[r.URL.Query().Get("path")]
		f.mu.Unlock()
		switch {
		case m == nil:
			http.NotFound(w, r)
		case m.MediaKey != r.URL.Query().Get("key"):
			http.Error(w, "wrong media key", 403)
		default:
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(m.Data)
		}
	})
	mux.HandleFunc("/api/event", func(w http.ResponseWriter, r *http.Request) {
		var m struct{ Device, Event string }
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		f.mu.Lock()
		f.events[m.Device] = append(f.events[m.Device], m.Event)
		f.mu.Unlock()
	})
	mux.HandleFunc("GET /api/directory", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		json.NewEncoder(w).Encode(f.directory)
	})
	mux.HandleFunc("/favicon.ico", http.NotFound)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(index)
	})
	f.srv = httptest.NewServer(mux) // 127.0.0.1
	t.Cleanup(f.srv.Close)
	return f
}

// url returns the fake's address for a page variant ("" for the normal
// page).
func (f *fakeWA) url(variant string) string {
	if variant == "" {
		return f.srv.URL + "/"
	}
	return f.srv.URL + "/?variant=" + variant
}

func (f *fakeWA) scan(device string) {
	f.mu.Lock()
	f.scanned[device] = true
	delete(f.unlinked, device)
	f.mu.Unlock()
}

// unlink removes the device on the phone.
func (f *fakeWA) unlink(device string) {
	f.mu.Lock()
	f.unlinked[device] = true
	delete(f.linked, device)
	delete(f.scanned, device)
	f.mu.Unlock()
}

// linkedDevices returns the devices on the phone's "Linked devices" list,
// sorted: paired, and neither logged out in the page nor unlinked on the
// phone.
func (f *fakeWA) linkedDevices() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for d := range f.linked {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

// loggedOut returns how often device's page logged out.
func (f *fakeWA) loggedOut(device string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.logouts[device]
}

func (f *fakeWA) deliver(device, from, body string) {
	f.deliverItem(device, map[string]any{"from": from, "body": body})
}

// deliverItem queues what the phone side sends to device's page (see
// fake.js incoming): a message, a reaction, an edit or a revoke.
func (f *fakeWA) deliverItem(device string, item map[string]any) {
	f.mu.Lock()
	f.incoming[device] = append(f.incoming[device], item)
	f.mu.Unlock()
}

// store keeps a file on the fake's media servers and returns its direct
// path and media key.
func (f *fakeWA) store(m *storedMedia) (path, key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextPath++
	path = fmt.Sprintf("/v/t62.fake/%d-%s", f.nextPath, m.Device)
	if m.MediaKey == "" {
		m.MediaKey = base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("key-%032d", f.nextPath)))
	}
	f.media[path] = m
	return path, m.MediaKey
}

// upload returns the file uploaded under a direct path, or nil.
func (f *fakeWA) upload(path string) *storedMedia {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.media[path]
}

func (f *fakeWA) sentBy(device string) []sentMsg {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []sentMsg
	for _, m := range f.sent {
		if m.Device == device {
			out = append(out, m)
		}
	}
	return out
}

func (f *fakeWA) eventsOf(device string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.events[device]...)
}

// deviceOf extracts the fake's device id from a QR string: its ref is
// "2@fake-<device>-<n>".
func deviceOf(t testing.TB, qr string) string {
	t.Helper()
	ref, _, _ := strings.Cut(qr, ",")
	rest, ok := strings.CutPrefix(ref, "2@fake-")
	i := strings.LastIndexByte(rest, '-')
	if !ok || i < 0 {
		t.Fatalf("QR %q does not carry a fake ref", qr)
	}
	return rest[:i]
}

// testLog returns a logger writing to the test log.
func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	defer func() { recover() }() // a log line after the test ended
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// env is one test daemon: a backend and a registry on a state dir.
type env struct {
	t        testing.TB
	b        *Backend
	reg      *sessions.Registry
	stateDir string
	made     sync.Map // client -> latest *Session
}

func newEnv(t testing.TB, stateDir string, cfg Config) *env {
	t.Helper()
	return newEnvTimeout(t, stateDir, cfg, 90*time.Second)
}

// newEnvTimeout is newEnv with the registry's start timeout.
func newEnvTimeout(t testing.TB, stateDir string, cfg Config, startTimeout time.Duration) *env {
	t.Helper()
	if stateDir == "" {
		stateDir = t.TempDir()
	}
	log := testLog(t)
	b, err := New(cfg, stateDir, log)
	if err != nil {
		t.Fatal(err)
	}
	reg := sessions.New(sessions.Config{StateDir: stateDir, DefaultBackend: Name, StartTimeout: startTimeout, Log: log}, b)
	e := &env{t: t, b: b, reg: reg, stateDir: stateDir}
	b.created = func(s *Session) { e.made.Store(s.env.Client, s) }
	t.Cleanup(e.close)
	return e
}

func (e *env) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.reg.Close(ctx); err != nil {
		e.t.Errorf("closing registry: %v", err)
	}
}

// session returns the session the backend made last for client, or nil.
func (e *env) session(client string) *Session {
	s, _ := e.made.Load(client)
	s2, _ := s.(*Session)
	return s2
}

// status returns the session's state with its process, as session.status
// shows it.
func (s *Session) status() ctl.Session {
	st := s.st.Get()
	st.PID, st.RSSBytes = s.Process()
	return st
}

// waitState waits until client's state satisfies cond.
func (e *env) waitState(client string, d time.Duration, cond func(ctl.Session) bool) ctl.Session {
	e.t.Helper()
	deadline := time.Now().Add(d)
	for {
		st, err := e.reg.Get(client)
		if err == nil && cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("client %s: state %+v (err %v) did not reach the wanted state within %s", client, st, err, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func inState(s ctl.State) func(ctl.Session) bool {
	return func(st ctl.Session) bool { return st.State == s }
}

// login logs client in and requires a QR code; it returns the device id
// the fake gave the profile.
func (e *env) loginQR(client string) (ctl.Session, string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	st, err := e.reg.Login(ctx, client, sessions.LoginOptions{})
	if err != nil {
		e.t.Fatalf("login %s: %v (state %+v)", client, err, st)
	}
	if st.State != ctl.StateQR || st.QR == "" {
		e.t.Fatalf("login %s: state %s, want qr with a code: %+v", client, st.State, st)
	}
	return st, deviceOf(e.t, st.QR)
}

// connect logs client in, scans its QR with the fake phone and waits for
// connected.
func (e *env) connect(f *fakeWA, client string) (ctl.Session, string) {
	e.t.Helper()
	_, dev := e.loginQR(client)
	f.scan(dev)
	return e.waitState(client, 30*time.Second, inState(ctl.StateConnected)), dev
}

func codeOf(err error) int {
	var ce *ctl.Error
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}

// browserMains returns the browser main processes (no --type=) that run
// on profile.
func browserMains(profile string) []int {
	var out []int
	for _, pid := range ProfileProcesses(profile) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		if !bytes.Contains(b, []byte("--type=")) {
			out = append(out, pid)
		}
	}
	return out
}

// waitNoProcesses waits until no process uses profile.
func waitNoProcesses(t testing.TB, profile string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		left := ProfileProcesses(profile)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes of profile %s still alive after %s: %v", profile, d, left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
