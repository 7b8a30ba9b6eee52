package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
)

var sentAt = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// passedFile is what the stub saw of one descriptor passed with a
// request.
type passedFile struct {
	info    os.FileInfo
	content string // what could be read from it
}

// recorder answers every request with a fixed result per method and
// keeps what the descriptors passed with each held (read before the
// stub closes them).
type recorder struct {
	mu     sync.Mutex
	passed [][]passedFile
	// write, if set, is written to the first descriptor of a
	// message.download before it is answered.
	write string
	// fail, if set, is the error every request gets (after write).
	fail *ctl.Error
	// result overrides the result of message.download.
	download *ctl.DownloadResult
}

// set changes what the recorder answers, between calls.
func (rec *recorder) set(f func(*recorder)) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	f(rec)
}

func (rec *recorder) handle(r stubRequest) (any, *ctl.Error) {
	switch r.Method {
	case ctl.MethodSubscribe:
		return ctl.SubscribeResult{Subscription: "S1"}, nil
	case ctl.MethodUnsubscribe:
		return ctl.OK{OK: true}, nil
	}
	rec.mu.Lock()
	write, fail, download := rec.write, rec.fail, rec.download
	rec.mu.Unlock()
	var pf []passedFile
	for _, f := range r.Files {
		fi, _ := f.Stat()
		p := passedFile{info: fi}
		if r.Method == ctl.MethodSend {
			b, _ := io.ReadAll(f)
			p.content = string(b)
		}
		pf = append(pf, p)
	}
	if r.Method == ctl.MethodDownload && write != "" && len(r.Files) > 0 {
		io.WriteString(r.Files[0], write)
	}
	rec.mu.Lock()
	rec.passed = append(rec.passed, pf)
	rec.mu.Unlock()
	if fail != nil {
		return nil, fail
	}
	switch r.Method {
	case ctl.MethodRead:
		var p ctl.ReadParams
		json.Unmarshal(r.Params, &p)
		if len(p.IDs) == 0 {
			p.IDs = []string{"U1", "U2"}
		}
		return ctl.ReadResult{IDs: p.IDs}, nil
	case ctl.MethodPresence:
		return ctl.OK{OK: true}, nil
	case ctl.MethodDownload:
		if download != nil {
			return download, nil
		}
		return ctl.DownloadResult{Kind: "image", Mime: "image/jpeg", Filename: "photo.jpg", Size: int64(len(write)), SHA256: "abc123"}, nil
	}
	// A queued message, sent right after: as the daemon's queue says
	// it to a subscriber of message_status.
	return stubThen{Result: ctl.SendResult{ID: "3EB0STUB", State: ctl.OutQueued}, Then: func() {
		r.Notify(ctl.Event{Subscription: "S1", Client: "sales", Kind: ctl.KindMessageStatus,
			Status: &ctl.MessageStatus{ID: "3EB0STUB", Client: "sales", State: ctl.OutSent, Timestamp: sentAt}})
	}}, nil
}

func (rec *recorder) files(i int) []passedFile {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.passed[i]
}

func newStub(t *testing.T) (*stubDaemon, *recorder) {
	rec := &recorder{}
	return startStub(t, rec.handle), rec
}

// TestSendFilePassesTheDescriptorNotThePath prevents a wactl that sends
// a path the daemon would have to open (with its own rights), or that
// reads the file into the request: the request carries the open file
// as fd 0 and no trace of where it lives.
func TestSendFilePassesTheDescriptorNotThePath(t *testing.T) {
	s, rec := newStub(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "Photo.JPG")
	os.WriteFile(path, []byte("\xff\xd8\xff not really a jpeg"), 0o600)
	code, out, errs := wactl(t, s.Socket, "", "send", "sales", "+4915112345678", "--file", path, "--caption", "the view",
		"--reply-to", "3EB0AAAA", "--mention", "+4915112345678", "--mention", "4915199999999@s.whatsapp.net")
	if code != 0 || !strings.HasPrefix(out, "sent 3EB0STUB at ") {
		t.Fatalf("send --file: exit %d, %q %q", code, out, errs)
	}
	reqs := s.Calls()
	if len(reqs) != 1 || reqs[0].Method != ctl.MethodSend {
		t.Fatalf("requests: %+v", reqs)
	}
	if strings.Contains(string(reqs[0].Params), dir) || strings.Contains(string(reqs[0].Params), "data") {
		t.Errorf("the request names the path or carries the bytes: %s", reqs[0].Params)
	}
	var p ctl.SendParams
	reqs[0].decode(t, &p)
	m := p.Media
	if m == nil || m.Kind != ctl.MediaImage || m.FD == nil || *m.FD != 0 || m.Filename != "Photo.JPG" || m.Caption != "the view" || m.Mime != "" || m.Data != nil {
		t.Errorf("media = %+v", m)
	}
	if p.Text != "" || p.ReplyTo != "3EB0AAAA" || !slices.Equal(p.Mentions, []string{"+4915112345678", "4915199999999@s.whatsapp.net"}) || p.To != "+4915112345678" || p.Client != "sales" {
		t.Errorf("params = %+v", p)
	}
	passed := rec.files(0)
	want, _ := os.Stat(path)
	if len(passed) != 1 || !os.SameFile(passed[0].info, want) || passed[0].content != "\xff\xd8\xff not really a jpeg" {
		t.Fatalf("passed %+v, want the one file %s", passed, path)
	}

	// TEXT is the caption, and - reads it from stdin.
	code, _, errs = wactl(t, s.Socket, "a caption\non two lines\n", "send", "sales", "+4915112345678", "--file", path, "-")
	reqs = s.Calls()
	reqs[1].decode(t, &p)
	if code != 0 || p.Media == nil || p.Media.Caption != "a caption\non two lines" {
		t.Errorf("caption from stdin: exit %d %s, media %+v", code, errs, p.Media)
	}
}

// TestSendFileFromStdin prevents `--file -` from reading stdin into the
// request: stdin travels as a descriptor, the name and kind as given.
func TestSendFileFromStdin(t *testing.T) {
	s, rec := newStub(t)
	code, _, errs := wactl(t, s.Socket, "%PDF-1.4 the contents", "--json", "send", "sales", "+4915112345678", "--file", "-", "--filename", "offer.pdf", "--mime", "application/pdf")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var p ctl.SendParams
	s.Calls()[0].decode(t, &p)
	if p.Media == nil || p.Media.Kind != ctl.MediaDocument || p.Media.Filename != "offer.pdf" || p.Media.Mime != "application/pdf" || *p.Media.FD != 0 {
		t.Errorf("media = %+v", p.Media)
	}
	if got := rec.files(0); len(got) != 1 || got[0].content != "%PDF-1.4 the contents" {
		t.Errorf("passed %+v", got)
	}
}

// TestSendKindGuess prevents a kind guess that WhatsApp would show
// wrongly: images, videos and audio by extension or mime type, WebP and
// Ogg never as sticker or voice unless asked, the rest as documents.
func TestSendKindGuess(t *testing.T) {
	for _, tc := range []struct{ name, mime, want string }{
		{"a.jpg", "", ctl.MediaImage}, {"a.JPEG", "", ctl.MediaImage}, {"a.png", "", ctl.MediaImage},
		{"a.webp", "", ctl.MediaImage}, {"a.mp4", "", ctl.MediaVideo}, {"a.3gp", "", ctl.MediaVideo},
		{"a.mp3", "", ctl.MediaAudio}, {"a.m4a", "", ctl.MediaAudio}, {"a.ogg", "", ctl.MediaAudio},
		{"a.opus", "", ctl.MediaAudio}, {"a.pdf", "", ctl.MediaDocument}, {"a.gif", "", ctl.MediaDocument},
		{"README", "", ctl.MediaDocument}, {"a.tar.gz", "", ctl.MediaDocument},
		{"noext", "image/png", ctl.MediaImage}, {"a.jpg", "application/pdf", ctl.MediaDocument},
		{"x", "audio/ogg; codecs=opus", ctl.MediaAudio}, {"x", "video/mp4", ctl.MediaVideo},
		{"x", "video/quicktime", ctl.MediaDocument},
	} {
		if got := guessKind(tc.name, tc.mime); got != tc.want {
			t.Errorf("guessKind(%q, %q) = %s, want %s", tc.name, tc.mime, got, tc.want)
		}
	}
	// --kind wins over the guess, end to end.
	s, _ := newStub(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		file string
		args []string
		want string
	}{
		{"note.ogg", nil, ctl.MediaAudio},
		{"note.ogg", []string{"--kind", "voice"}, ctl.MediaVoice},
		{"smile.webp", nil, ctl.MediaImage},
		{"smile.webp", []string{"--kind", "sticker"}, ctl.MediaSticker},
		{"clip.mp4", []string{"--kind", "document"}, ctl.MediaDocument},
	} {
		path := filepath.Join(dir, tc.file)
		os.WriteFile(path, []byte("x"), 0o600)
		n := len(s.Calls())
		code, _, errs := wactl(t, s.Socket, "", append([]string{"send", "sales", "+4915112345678", "--file", path}, tc.args...)...)
		var p ctl.SendParams
		if code != 0 || len(s.Calls()) != n+1 {
			t.Fatalf("%s %v: exit %d %s", tc.file, tc.args, code, errs)
		}
		s.Calls()[n].decode(t, &p)
		if p.Media.Kind != tc.want {
			t.Errorf("%s %v: kind %s, want %s", tc.file, tc.args, p.Media.Kind, tc.want)
		}
	}
}

// TestSendLocationContactAndText prevents malformed location, contact
// and text requests: each carries exactly its own fields, and replies
// and mentions go with text too.
func TestSendLocationContactAndText(t *testing.T) {
	s, rec := newStub(t)
	for _, tc := range []struct {
		args  []string
		check func(p ctl.SendParams) bool
	}{
		{[]string{"--location", "52.5163,13.3777", "--name", "Brandenburger Tor", "--address", "Pariser Platz"}, func(p ctl.SendParams) bool {
			l := p.Location
			return l != nil && l.Lat == 52.5163 && l.Lon == 13.3777 && l.Name == "Brandenburger Tor" && l.Address == "Pariser Platz" && p.Text == "" && p.Media == nil && p.Contact == nil
		}},
		{[]string{"--location=-33.8568, 151.2153"}, func(p ctl.SendParams) bool {
			return p.Location != nil && p.Location.Lat == -33.8568 && p.Location.Lon == 151.2153
		}},
		{[]string{"--contact", "Ada Lovelace=+44 1234 567890"}, func(p ctl.SendParams) bool {
			return p.Contact != nil && *p.Contact == ctl.ContactCard{Name: "Ada Lovelace", Phone: "+44 1234 567890"} && p.Text == "" && p.Location == nil
		}},
		{[]string{"hi @4915112345678", "--reply-to", "3EB0AAAA", "--mention", "+4915112345678"}, func(p ctl.SendParams) bool {
			return p.Text == "hi @4915112345678" && p.ReplyTo == "3EB0AAAA" && slices.Equal(p.Mentions, []string{"+4915112345678"}) && p.Media == nil
		}},
	} {
		n := len(s.Calls())
		code, out, errs := wactl(t, s.Socket, "", append([]string{"--json", "send", "sales", "120363012345678901@g.us"}, tc.args...)...)
		var r ctl.SendResult
		if code != 0 || json.Unmarshal([]byte(out), &r) != nil || r.ID != "3EB0STUB" || !r.Timestamp.Equal(sentAt) {
			t.Errorf("send %v: exit %d, %q %q", tc.args, code, out, errs)
			continue
		}
		req := s.Calls()[n]
		var p ctl.SendParams
		req.decode(t, &p)
		if !tc.check(p) || p.To != "120363012345678901@g.us" {
			t.Errorf("send %v: params %s", tc.args, req.Params)
		}
		if len(rec.files(n)) != 0 {
			t.Errorf("send %v passed descriptors", tc.args)
		}
	}
}

// TestSendUsageErrors prevents ambiguous or malformed sends from
// reaching the daemon: they exit 2 (1 for a file that cannot be opened)
// with a message saying what is wrong, and nothing is sent.
func TestSendUsageErrors(t *testing.T) {
	s, _ := newStub(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "a.jpg")
	os.WriteFile(file, []byte("x"), 0o600)
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"send", "sales", "+4915112345678"}, 2, "give TEXT"},
		{[]string{"send", "sales"}, 2, "send takes CLIENT TO [TEXT|-]"},
		{[]string{"send", "sales", "+49", "a", "b"}, 2, "send takes CLIENT TO [TEXT|-]"},
		{[]string{"send", "sales", "+49", "--file", file, "--location", "1,2"}, 2, "give one"},
		{[]string{"send", "sales", "+49", "--contact", "A=+1", "--location", "1,2"}, 2, "give one"},
		{[]string{"send", "sales", "+49", "hi", "--location", "1,2"}, 2, "TEXT cannot go with --location"},
		{[]string{"send", "sales", "+49", "hi", "--kind", "image"}, 2, "describe a --file"},
		{[]string{"send", "sales", "+49", "hi", "--caption", "c"}, 2, "describe a --file"},
		{[]string{"send", "sales", "+49", "--file", file, "--kind", "gif"}, 2, `unknown --kind "gif"`},
		{[]string{"send", "sales", "+49", "--file", file, "--caption", "c", "also"}, 2, "not both"},
		{[]string{"send", "sales", "+49", "--file", "-", "-"}, 2, "stdin cannot be both"},
		{[]string{"send", "sales", "+49", "hi", "--name", "x"}, 2, "describe a --location"},
		{[]string{"send", "sales", "+49", "--location", "52.5"}, 2, "want LAT,LON"},
		{[]string{"send", "sales", "+49", "--location", "north,east"}, 2, "want LAT,LON"},
		{[]string{"send", "sales", "+49", "--location", "91,0"}, 2, "latitude is -90 to 90"},
		{[]string{"send", "sales", "+49", "--contact", "Ada"}, 2, "want NAME=PHONE"},
		{[]string{"send", "sales", "+49", "--contact", "=+441234567890"}, 2, "want NAME=PHONE"},
		{[]string{"send", "sales", "+49", "--file", filepath.Join(dir, "missing.jpg")}, 1, "no such file"},
		{[]string{"send", "sales", "+49", "--file", dir}, 1, "is a directory"},
		{[]string{"send", "sales", "+49", "--bogus"}, 2, "flag provided but not defined"},
	} {
		code, _, errs := wactl(t, s.Socket, "", tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.msg) {
			t.Errorf("wactl %v: exit %d, stderr %q; want %d and %q", tc.args, code, errs, tc.code, tc.msg)
		}
		if strings.Contains(errs, "panic") || strings.Count(errs, "\n") > 3 {
			t.Errorf("wactl %v: stderr is not a short message: %q", tc.args, errs)
		}
	}
	if reqs := s.Calls(); len(reqs) != 0 {
		t.Errorf("usage errors reached the daemon: %+v", reqs)
	}
}

// TestReactEditRevokeReadPresence prevents requests that do not say
// what the command line said, and output that does not say what was
// done.
func TestReactEditRevokeReadPresence(t *testing.T) {
	s, _ := newStub(t)
	const chat = "4915112345678@s.whatsapp.net"
	for _, tc := range []struct {
		args   []string
		stdin  string
		method string
		params any // a pointer to fill, compared with want
		want   any
		out    string
	}{
		{[]string{"react", "sales", chat, "3EB0AAAA", "👍"}, "", ctl.MethodReact, &ctl.ReactParams{}, &ctl.ReactParams{Client: "sales", Chat: chat, ID: "3EB0AAAA", Emoji: "👍"}, "reacted 👍 to 3EB0AAAA at "},
		{[]string{"react", "sales", chat, "3EB0AAAA", ""}, "", ctl.MethodReact, &ctl.ReactParams{}, &ctl.ReactParams{Client: "sales", Chat: chat, ID: "3EB0AAAA"}, "removed the reaction to 3EB0AAAA at "},
		{[]string{"edit", "sales", "+4915112345678", "3EB0AAAA", "fixed text"}, "", ctl.MethodEdit, &ctl.EditParams{}, &ctl.EditParams{Client: "sales", Chat: "+4915112345678", ID: "3EB0AAAA", Text: "fixed text"}, "edited 3EB0AAAA at "},
		{[]string{"edit", "sales", chat, "3EB0AAAA", "-"}, "from stdin\n", ctl.MethodEdit, &ctl.EditParams{}, &ctl.EditParams{Client: "sales", Chat: chat, ID: "3EB0AAAA", Text: "from stdin"}, "edited 3EB0AAAA at "},
		{[]string{"revoke", "sales", chat, "3EB0AAAA"}, "", ctl.MethodRevoke, &ctl.MessageRef{}, &ctl.MessageRef{Client: "sales", Chat: chat, ID: "3EB0AAAA"}, "revoked 3EB0AAAA at "},
		{[]string{"read", "sales", chat}, "", ctl.MethodRead, &ctl.ReadParams{}, &ctl.ReadParams{Client: "sales", Chat: chat}, "marked read: U1 U2\n"},
		{[]string{"read", "sales", chat, "A1", "A2", "A3"}, "", ctl.MethodRead, &ctl.ReadParams{}, &ctl.ReadParams{Client: "sales", Chat: chat, IDs: []string{"A1", "A2", "A3"}}, "marked read: A1 A2 A3\n"},
		{[]string{"presence", "sales", chat}, "", ctl.MethodPresence, &ctl.PresenceParams{}, &ctl.PresenceParams{Client: "sales", Chat: chat, State: "typing"}, "sales: typing in " + chat + "\n"},
		{[]string{"presence", "sales", chat, "recording"}, "", ctl.MethodPresence, &ctl.PresenceParams{}, &ctl.PresenceParams{Client: "sales", Chat: chat, State: "recording"}, "sales: recording in " + chat + "\n"},
		{[]string{"presence", "sales", chat, "paused"}, "", ctl.MethodPresence, &ctl.PresenceParams{}, &ctl.PresenceParams{Client: "sales", Chat: chat, State: "paused"}, "sales: paused in " + chat + "\n"},
	} {
		n := len(s.Calls())
		code, out, errs := wactl(t, s.Socket, tc.stdin, tc.args...)
		if code != 0 || !strings.HasPrefix(out, tc.out) {
			t.Errorf("wactl %q: exit %d, %q %q; want output %q", tc.args, code, out, errs, tc.out)
			continue
		}
		reqs := s.Calls()
		if len(reqs) != n+1 || reqs[n].Method != tc.method {
			t.Errorf("wactl %q: requests %+v", tc.args, reqs[n:])
			continue
		}
		reqs[n].decode(t, tc.params)
		if got, want := mustJSON(tc.params), mustJSON(tc.want); got != want {
			t.Errorf("wactl %q: params %s, want %s", tc.args, got, want)
		}
	}
	// --json prints the result.
	for args, want := range map[string]string{
		"react sales " + chat + " 3EB0AAAA 👍": `"id": "3EB0STUB"`,
		"read sales " + chat + " A1":          `"ids": [`,
		"presence sales " + chat:              `"ok": true`,
	} {
		code, out, _ := wactl(t, s.Socket, "", append([]string{"--json"}, strings.Fields(args)...)...)
		if code != 0 || !json.Valid([]byte(out)) || !strings.Contains(out, want) {
			t.Errorf("--json %s: exit %d, %q", args, code, out)
		}
	}
	// Usage errors exit 2 before anything is sent.
	n := len(s.Calls())
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"react", "sales", chat, "3EB0AAAA"}, "react takes CLIENT CHAT ID EMOJI"},
		{[]string{"edit", "sales", chat, "3EB0AAAA"}, "edit takes CLIENT CHAT ID TEXT|-"},
		{[]string{"revoke", "sales", chat}, "revoke takes CLIENT CHAT ID"},
		{[]string{"read", "sales"}, "read takes CLIENT CHAT [ID...]"},
		{[]string{"presence", "sales", chat, "dancing"}, `unknown state "dancing": want typing, recording, paused`},
		{[]string{"presence", "sales", chat, "typing", "more"}, "presence takes CLIENT CHAT [STATE]"},
	} {
		code, _, errs := wactl(t, s.Socket, "", tc.args...)
		if code != 2 || !strings.Contains(errs, tc.msg) {
			t.Errorf("wactl %q: exit %d, %q; want 2 and %q", tc.args, code, errs, tc.msg)
		}
	}
	if len(s.Calls()) != n {
		t.Errorf("usage errors reached the daemon: %+v", s.Calls()[n:])
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestDaemonErrorsExitOne prevents a refused call from passing for a
// success: wactl prints the daemon's message and code, and exits 1.
func TestDaemonErrorsExitOne(t *testing.T) {
	rec := &recorder{fail: ctl.Errorf(ctl.CodeInvalidParams, "message 3EB0AAAA was not sent by this account")}
	s := startStub(t, rec.handle)
	for _, args := range [][]string{
		{"edit", "sales", "+4915112345678", "3EB0AAAA", "x"},
		{"react", "sales", "+4915112345678", "3EB0AAAA", "👍"},
		{"revoke", "sales", "+4915112345678", "3EB0AAAA"},
		{"read", "sales", "+4915112345678"},
		{"presence", "sales", "+4915112345678"},
		{"send", "sales", "+4915112345678", "--location", "1,2"},
	} {
		code, out, errs := wactl(t, s.Socket, "", args...)
		if code != 1 || out != "" || errs != "wactl: message 3EB0AAAA was not sent by this account (error -32602)\n" {
			t.Errorf("wactl %q: exit %d, %q %q", args, code, out, errs)
		}
	}
}

// TestDownloadToFile prevents downloads that overwrite files unasked,
// leave partial files behind, or go anywhere but the descriptor wactl
// opened: -o FILE is created (refused when it exists, unless --force),
// passed as fd 0, and removed when the call fails.
func TestDownloadToFile(t *testing.T) {
	rec := &recorder{write: "JPEG BYTES"}
	s := startStub(t, rec.handle)
	dir := t.TempDir()
	out := filepath.Join(dir, "saved.jpg")
	code, stdout, errs := wactl(t, s.Socket, "", "download", "sales", "+4915112345678", "3EB0AAAA", "-o", out)
	if code != 0 || stdout != "wrote "+out+" (image, image/jpeg, 10 B, sha256 abc123)\n" {
		t.Fatalf("download -o: exit %d, %q %q", code, stdout, errs)
	}
	if b, _ := os.ReadFile(out); string(b) != "JPEG BYTES" {
		t.Errorf("file holds %q", b)
	}
	var p ctl.DownloadParams
	s.Calls()[0].decode(t, &p)
	info, _ := os.Stat(out)
	if p.FD == nil || *p.FD != 0 || p.ID != "3EB0AAAA" || p.Chat != "+4915112345678" || p.Client != "sales" {
		t.Errorf("params %s", s.Calls()[0].Params)
	}
	if got := rec.files(0); len(got) != 1 || !os.SameFile(got[0].info, info) {
		t.Errorf("passed %+v, not the output file", got)
	}

	// An existing file is kept, and nothing is asked of the daemon.
	code, _, errs = wactl(t, s.Socket, "", "download", "sales", "+4915112345678", "3EB0AAAA", "-o", out)
	if code != 1 || !strings.Contains(errs, "exists (--force overwrites it)") || len(s.Calls()) != 1 {
		t.Errorf("existing -o: exit %d %q, %d requests", code, errs, len(s.Calls()))
	}
	rec.set(func(r *recorder) { r.write = "NEW" })
	code, _, errs = wactl(t, s.Socket, "", "download", "sales", "+4915112345678", "3EB0AAAA", "-o", out, "--force", "--json")
	if b, _ := os.ReadFile(out); code != 0 || string(b) != "NEW" {
		t.Errorf("--force: exit %d %q, file %q", code, errs, b)
	}

	// A failed download removes the file it created.
	rec.set(func(r *recorder) { r.write, r.fail = "PARTIAL", ctl.Errorf(ctl.CodeUpstream, "media expired") })
	failed := filepath.Join(dir, "failed.jpg")
	code, _, errs = wactl(t, s.Socket, "", "download", "sales", "+4915112345678", "3EB0AAAA", "-o", failed)
	if _, err := os.Stat(failed); code != 1 || !strings.Contains(errs, "media expired (error -32004)") || !os.IsNotExist(err) {
		t.Errorf("failed download: exit %d %q, file: %v", code, errs, err)
	}
}

// TestDownloadNamesTheFile prevents a download without -o from
// overwriting a file or writing where the sender says: it gets the
// message's file name, reduced to a plain name in the current
// directory, and an existing file is refused (leaving nothing behind).
func TestDownloadNamesTheFile(t *testing.T) {
	rec := &recorder{write: "BYTES"}
	s := startStub(t, rec.handle)
	dir := t.TempDir()
	t.Chdir(dir)
	for _, tc := range []struct {
		filename, mime, want string
	}{
		{"photo.jpg", "image/jpeg", "photo.jpg"},
		{"../../etc/.bashrc", "text/plain", "bashrc"},
		{`C:\Users\x\report.pdf`, "application/pdf", "report.pdf"},
		{"", "image/jpeg", "3EB0AAAA.jpg"},
		{"..", "application/octet-stream", "3EB0AAAA"},
	} {
		rec.set(func(r *recorder) {
			r.download = &ctl.DownloadResult{Kind: "document", Mime: tc.mime, Filename: tc.filename, Size: 5, SHA256: "abc"}
		})
		code, out, errs := wactl(t, s.Socket, "", "download", "sales", "+4915112345678", "3EB0AAAA")
		if code != 0 || !strings.HasPrefix(out, "wrote "+tc.want+" (") {
			t.Errorf("filename %q: exit %d, %q %q; want %s", tc.filename, code, out, errs, tc.want)
			continue
		}
		if b, err := os.ReadFile(filepath.Join(dir, tc.want)); err != nil || string(b) != "BYTES" {
			t.Errorf("filename %q: %s holds %q, %v", tc.filename, tc.want, b, err)
		}
	}
	// photo.jpg exists now: refused, kept, and no temporary file left.
	os.WriteFile("photo.jpg", []byte("MINE"), 0o644)
	rec.set(func(r *recorder) {
		r.download = &ctl.DownloadResult{Kind: "image", Mime: "image/jpeg", Filename: "photo.jpg", Size: 5, SHA256: "abc"}
	})
	code, _, errs := wactl(t, s.Socket, "", "download", "sales", "+4915112345678", "3EB0AAAA")
	if b, _ := os.ReadFile("photo.jpg"); code != 1 || !strings.Contains(errs, "photo.jpg exists: not overwritten") || string(b) != "MINE" {
		t.Errorf("existing name: exit %d %q, file %q", code, errs, b)
	}
	code, out, _ := wactl(t, s.Socket, "", "--json", "download", "sales", "+4915112345678", "3EB0AAAA", "--force")
	var js struct {
		File string `json:"file"`
		Kind string `json:"kind"`
	}
	if b, _ := os.ReadFile("photo.jpg"); code != 0 || string(b) != "BYTES" || json.Unmarshal([]byte(out), &js) != nil || js.File != "photo.jpg" || js.Kind != "image" {
		t.Errorf("--force: exit %d %q, file %q", code, out, b)
	}
	rec.set(func(r *recorder) { r.fail = ctl.Errorf(ctl.CodeUpstream, "gone") })
	wactl(t, s.Socket, "", "download", "sales", "+4915112345678", "3EB0AAAA")
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

// TestDownloadToStdout prevents -o - from mixing the summary into the
// bytes: the file goes to stdout, what was written to stderr.
func TestDownloadToStdout(t *testing.T) {
	rec := &recorder{write: "RAW BYTES"}
	s := startStub(t, rec.handle)
	code, out, errs := wactl(t, s.Socket, "", "download", "sales", "+4915112345678", "3EB0AAAA", "-o", "-")
	if code != 0 || out != "RAW BYTES" || !strings.HasPrefix(errs, "wrote stdout (image, image/jpeg, 9 B") {
		t.Errorf("-o -: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	code, out, errs = wactl(t, s.Socket, "", "--json", "download", "sales", "+4915112345678", "3EB0AAAA", "-o", "-")
	if code != 0 || out != "RAW BYTES" || !json.Valid([]byte(errs)) {
		t.Errorf("--json -o -: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

// TestFormatMessagingEvents prevents watch lines that hide what a media,
// location, contact, reply, reaction, edit or revoke event says.
func TestFormatMessagingEvents(t *testing.T) {
	const alice, chat = "4915112345678@s.whatsapp.net", "120363012345678901@g.us"
	for _, tc := range []struct {
		ev   ctl.Event
		want string
	}{
		{ctl.Event{Kind: ctl.KindMessage, Message: &ctl.Message{ID: "M1", Sender: alice, Chat: chat, Type: "image", Caption: "the view",
			Media: &ctl.MediaInfo{Kind: "image", Mime: "image/jpeg", Size: 1234567, Width: 1600, Height: 1200, Filename: "photo.jpg", Downloadable: true}}},
			`message M1 from ` + alice + ` in ` + chat + `: [image 1.2 MB 1600x1200 photo.jpg] "the view"`},
		{ctl.Event{Kind: ctl.KindMessage, Message: &ctl.Message{ID: "M2", Sender: alice, Chat: chat, Type: "voice",
			Media: &ctl.MediaInfo{Kind: "voice", Size: 5300, Seconds: 61.6}}},
			`: [voice 5.3 kB 1:02 (not downloadable)]`},
		{ctl.Event{Kind: ctl.KindMessage, Message: &ctl.Message{ID: "M3", Type: "document", Media: &ctl.MediaInfo{Kind: "document", Size: 999, Pages: 3, Filename: "Q3 report.pdf", Downloadable: true}}},
			`[document 999 B 3 pages "Q3 report.pdf"]`},
		{ctl.Event{Kind: ctl.KindMessage, Message: &ctl.Message{ID: "M4", Type: "location", Location: &ctl.Location{Lat: 52.5163, Lon: 13.3777, Name: "Brandenburger Tor"}}},
			`[location 52.5163,13.3777 "Brandenburger Tor"]`},
		{ctl.Event{Kind: ctl.KindMessage, Message: &ctl.Message{ID: "M5", Type: "contact", Contact: &ctl.ContactCard{Name: "Ada Lovelace", Phone: "+441234567890"}}},
			`[contact "Ada Lovelace" +441234567890]`},
		{ctl.Event{Kind: ctl.KindMessage, Message: &ctl.Message{ID: "M6", Sender: alice, Chat: chat, Text: "yes @491", ReplyTo: "M1", Mentions: []string{alice}}},
			`: "yes @491" (reply to M1) mentioning ` + alice},
		{ctl.Event{Kind: ctl.KindMessage, Message: &ctl.Message{ID: "M7", Chat: chat, FromMe: true, Text: "mine"}},
			`message M7 from me in ` + chat + `: "mine"`},
		{ctl.Event{Kind: ctl.KindReaction, Message: &ctl.Message{ID: "R1", Sender: alice, Chat: chat, TargetID: "M1", Emoji: "👍"}},
			`sales reaction 👍 to M1 by ` + alice + ` in ` + chat},
		{ctl.Event{Kind: ctl.KindReaction, Message: &ctl.Message{ID: "R2", Sender: alice, Chat: chat, TargetID: "M1"}},
			`sales reaction removed from M1 by ` + alice},
		{ctl.Event{Kind: ctl.KindEdit, Message: &ctl.Message{ID: "E1", Sender: alice, Chat: chat, TargetID: "M6", Text: "no"}},
			`sales edit M6 by ` + alice + ` in ` + chat + `: "no"`},
		{ctl.Event{Kind: ctl.KindRevoke, Message: &ctl.Message{ID: "X1", Sender: alice, Chat: chat, TargetID: "M6"}},
			`sales revoke M6 by ` + alice + ` in ` + chat},
	} {
		tc.ev.Client = "sales"
		if got := formatEvent(tc.ev); !strings.Contains(got, tc.want) {
			t.Errorf("formatEvent:\n got %s\nwant …%s…", got, tc.want)
		}
	}
}

// TestEveryCommandHasHelp prevents a command without a synopsis or a
// --help that fails.
func TestEveryCommandHasHelp(t *testing.T) {
	for _, c := range commands() {
		if c.hidden {
			continue
		}
		code, _, errs := wactl(t, "/nonexistent", "", append(strings.Fields(c.name), "--help")...)
		if code != 0 || !strings.HasPrefix(errs, "usage: wactl "+c.name+" "+c.args+"\n  "+c.help+"\n") {
			t.Errorf("wactl %s --help: exit %d\n%s", c.name, code, errs)
		}
	}
	code, out, _ := wactl(t, "/nonexistent", "", "help")
	if code != 0 {
		t.Fatalf("help: exit %d", code)
	}
	out = strings.ReplaceAll(out, ctl.UserSocket(), "USER_SOCKET")
	golden(t, "help", out)
	_, _, errs := wactl(t, "/nonexistent", "", "send", "--help")
	golden(t, "send-help", errs)
}
