package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"github.com/wad-project/wad/internal/syncbuf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon"
	"github.com/wad-project/wad/daemon/daemontest"
	"github.com/wad-project/wad/sessions"
	"github.com/wad-project/wad/sessions/sessiontest"
)

var update = flag.Bool("update", false, "rewrite golden files")

// wactl runs one command line against socket and returns exit code,
// stdout and stderr.
func wactl(t *testing.T, socket, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := run(ctx, append([]string{"--socket", socket}, args...), strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

var (
	timeRe = regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d`)
	pidRe  = regexp.MustCompile(`pid \d+, up \d+s, socket \S+`)
	// The size of a real daemon's event log depends on its events'
	// timestamps.
	logSizeRe = regexp.MustCompile(`(?m)^(event log: \d+ events?) \(\d+(\.\d)? [kMGTP]?B\)`)
)

func golden(t *testing.T, name, got string) {
	t.Helper()
	got = pidRe.ReplaceAllString(timeRe.ReplaceAllString(got, "YYYY-MM-DD hh:mm:ss"), "pid PID, up UPTIME, socket SOCKET")
	p := filepath.Join("testdata", name+".golden")
	if *update {
		os.WriteFile(p, []byte(got), 0o644)
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Fatalf("output differs from %s:\n--- got\n%s--- want\n%s", p, got, want)
	}
}

func TestStatusTableAndJSON(t *testing.T) {
	b := &sessiontest.Backend{}
	d := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{b}})
	code, out, _ := wactl(t, d.Socket, "", "status")
	if code != 0 || !strings.Contains(out, "no sessions") {
		t.Fatalf("empty status: %d %q", code, out)
	}
	for _, c := range []string{"sales", "support", "zz-ops"} {
		if _, err := d.Client.Login(context.Background(), ctl.LoginParams{Client: c}); err != nil {
			t.Fatal(err)
		}
	}
	b.Session("support").St.Update(func(s *ctl.Session) {
		s.State, s.JID, s.PushName = ctl.StateConnected, "4915112345678@s.whatsapp.net", "Support Desk"
	})
	d.Client.Stop(context.Background(), "zz-ops")

	code, out, errs := wactl(t, d.Socket, "", "status")
	if code != 0 {
		t.Fatalf("status: %d %s", code, errs)
	}
	golden(t, "status", logSizeRe.ReplaceAllString(out, "$1 (SIZE)"))

	code, out, _ = wactl(t, d.Socket, "", "--json", "status")
	var js struct {
		Version  string        `json:"version"`
		Sessions int           `json:"sessions"`
		List     []ctl.Session `json:"session_list"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &js) != nil || js.Sessions != 3 || len(js.List) != 3 || js.List[1].PushName != "Support Desk" {
		t.Fatalf("--json status: %d %q", code, out)
	}
	code, out, _ = wactl(t, d.Socket, "", "status", "support", "--json")
	var s ctl.Session
	if code != 0 || json.Unmarshal([]byte(out), &s) != nil || s.State != ctl.StateConnected {
		t.Fatalf("status support --json: %d %q", code, out)
	}
	code, out, _ = wactl(t, d.Socket, "", "status", "support")
	golden(t, "status-support", out)
}

func TestSendStopLogoutAndErrors(t *testing.T) {
	b := &sessiontest.Backend{Connect: true}
	d := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{b}})
	code, out, errs := wactl(t, d.Socket, "", "login", "sales")
	if code != 0 || !strings.Contains(out, "sales: connected as 4915100000000@s.whatsapp.net (Test sales)") {
		t.Fatalf("login: %d %q %q", code, out, errs)
	}
	code, out, _ = wactl(t, d.Socket, "", "send", "sales", "+49 151 12345678", "hello there")
	if code != 0 || !sentLine.MatchString(out) {
		t.Fatalf("send: %d %q", code, out)
	}
	code, out, _ = wactl(t, d.Socket, "line one\nline two\n", "--json", "send", "sales", "4915112345678@s.whatsapp.net", "-")
	var r ctl.SendResult
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil || !queuedID.MatchString(r.ID) || r.State != ctl.OutSent {
		t.Fatalf("send - : %d %q", code, out)
	}
	if got := b.Session("sales").Sent[1].Text; got != "line one\nline two" {
		t.Fatalf("stdin text = %q", got)
	}
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"send", "sales", "bob", "x"}, 1, "invalid recipient"},
		{[]string{"send", "sales", "+4915112345678", ""}, 1, "nothing to send"},
		{[]string{"send", "sales", "+4915112345678", " \n "}, 1, "text is empty"},
		{[]string{"status", "nobody"}, 1, "no session for client"},
		{[]string{"login", "bad/id"}, 1, "invalid client id"},
		{[]string{"login", "x", "--phone", "0151"}, 1, "invalid phone number"},
		{[]string{"send", "sales"}, 2, "takes CLIENT TO [TEXT|-]"},
		{[]string{"frobnicate"}, 2, "unknown command"},
	} {
		code, _, errs := wactl(t, d.Socket, "", tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.msg) {
			t.Errorf("wactl %v: exit %d, stderr %q; want %d and %q", tc.args, code, errs, tc.code, tc.msg)
		}
	}
	code, out, _ = wactl(t, d.Socket, "", "stop", "sales")
	if code != 0 || !strings.Contains(out, "sales: stopped") {
		t.Fatalf("stop: %d %q", code, out)
	}
	code, out, _ = wactl(t, d.Socket, "", "logout", "sales")
	if code != 0 || out != "sales: logged out\n" {
		t.Fatalf("logout: %d %q", code, out)
	}
}

func TestSendTooLargeFailsInsteadOfHanging(t *testing.T) {
	b := &sessiontest.Backend{Connect: true}
	d := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{b},
		Config: func(c *daemon.Config) { c.MaxRequestBytes, c.MaxMediaRequestBytes = 4096, 4096 }})
	if _, err := d.Client.Login(context.Background(), ctl.LoginParams{Client: "sales"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := run(ctx, []string{"--socket", d.Socket, "send", "sales", "+4915112345678", strings.Repeat("x", 10000)}, nil, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "request too large") {
		t.Fatalf("oversized send: exit %d, stderr %q", code, errb.String())
	}
}

func TestLoginShowsQRAndWaitsForConnection(t *testing.T) {
	b := &sessiontest.Backend{}
	d := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{b}})
	go func() {
		for b.Session("sales") == nil || b.Session("sales").St.Get().State != ctl.StateQR {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
		s := b.Session("sales")
		s.St.Update(func(st *ctl.Session) { st.QR = "2@rotated-qr" })
		time.Sleep(100 * time.Millisecond)
		s.St.Update(func(st *ctl.Session) {
			st.State, st.JID, st.PushName = ctl.StateConnected, "4915112345678@s.whatsapp.net", "Sales"
		})
	}()
	code, out, errs := wactl(t, d.Socket, "", "login", "sales")
	if code != 0 {
		t.Fatalf("login: %d %q %q", code, out, errs)
	}
	if n := strings.Count(out, "scan this QR code"); n != 2 {
		t.Fatalf("QR drawn %d times, want 2 (first and rotated):\n%s", n, out)
	}
	if !strings.Contains(out, "█") && !strings.Contains(out, "▀") {
		t.Fatalf("no QR block in output:\n%s", out)
	}
	if !strings.HasSuffix(out, "sales: connected as 4915112345678@s.whatsapp.net (Sales)\n") {
		t.Fatalf("no connected line at the end:\n%s", out)
	}
}

func TestLoginFailureAndTimeoutExitNonZero(t *testing.T) {
	b := &sessiontest.Backend{StartErr: func(string) error { return ctl.Errorf(ctl.CodeUpstream, "dial: connection refused") }}
	d := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{b, &sessiontest.Backend{BackendName: "chromedp"}}})
	code, _, errs := wactl(t, d.Socket, "", "login", "sales")
	if code != 1 || !strings.Contains(errs, "connection refused") {
		t.Fatalf("failed login: %d %q", code, errs)
	}
	code, _, errs = wactl(t, d.Socket, "", "login", "other", "--backend", "chromedp", "--timeout", "300ms")
	if code != 1 || !strings.Contains(errs, "not connected after 300ms") {
		t.Fatalf("login timeout: %d %q", code, errs)
	}
	code, out, _ := wactl(t, d.Socket, "", "login", "phone", "--backend", "chromedp", "--phone", "+4915112345678", "--no-wait")
	if code != 0 || !strings.Contains(out, "enter: ABCD-EFGH") {
		t.Fatalf("phone login: %d %q", code, out)
	}
}

func TestWatchPrintsEvents(t *testing.T) {
	b := &sessiontest.Backend{}
	d := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{b}})
	ctx, cancel := context.WithCancel(context.Background())
	var out syncbuf.Buffer
	done := make(chan int)
	go func() { done <- run(ctx, []string{"--socket", d.Socket, "watch", "sales"}, nil, &out, &out) }()
	for d.Registry.Bus().Len() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	d.Client.Login(context.Background(), ctl.LoginParams{Client: "sales"})
	b.Session("sales").Emit(ctl.Event{Kind: ctl.KindMessage, Message: &ctl.Message{ID: "M1", Sender: "4915112345678@s.whatsapp.net", Chat: "4915112345678@s.whatsapp.net", Text: "hi there"}})
	b.Session("sales").Emit(ctl.Event{Kind: ctl.KindGroup, Group: &ctl.GroupChange{Group: "120363012345678901@g.us", Type: ctl.GroupAdd,
		Author: "4915112345678@s.whatsapp.net", Participants: []string{"441234567890@s.whatsapp.net"}}})
	b.Session("sales").Emit(ctl.Event{Kind: ctl.KindCall, Call: &ctl.Call{ID: "CALL1", From: "4915112345678@s.whatsapp.net", State: ctl.CallOffer}})
	b.Session("sales").Emit(ctl.Event{Kind: ctl.KindMessage, Message: &ctl.Message{ID: "M2", Type: "image", Caption: "look"}})
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), `[image] "look"`) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("watch exit %d", code)
	}
	got := out.String()
	for _, want := range []string{"sales state starting", "sales state qr", "sales qr 2@test-sales-1", `message M1 from 4915112345678@s.whatsapp.net in 4915112345678@s.whatsapp.net: "hi there"`, `[image] "look"`,
		"sales group 120363012345678901@g.us add 441234567890@s.whatsapp.net by 4915112345678@s.whatsapp.net",
		"sales call offer voice call CALL1 from 4915112345678@s.whatsapp.net"} {
		if !strings.Contains(got, want) {
			t.Errorf("watch output lacks %q:\n%s", want, got)
		}
	}
}

func TestDaemonNotRunningSaysHowToStartIt(t *testing.T) {
	code, _, errs := wactl(t, filepath.Join(t.TempDir(), "none.sock"), "", "status")
	if code != 1 || !strings.Contains(errs, "wad is not running") || !strings.Contains(errs, "systemctl start wad") {
		t.Fatalf("%d %q", code, errs)
	}
}

func TestCompletionScriptsCoverTheCommandTree(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish"} {
		code, out, errs := wactl(t, "/nonexistent", "", "completion", sh)
		if code != 0 {
			t.Fatalf("completion %s: %d %s", sh, code, errs)
		}
		for _, c := range commands() {
			for _, word := range strings.Fields(c.name) {
				if !c.hidden && !strings.Contains(out, word) {
					t.Errorf("%s completion lacks %s (of %s)", sh, word, c.name)
				}
			}
		}
		if strings.Contains(out, "__clients\"") || strings.Contains(out, "-a __clients") {
			t.Errorf("%s completion offers the hidden command", sh)
		}
		path := filepath.Join(t.TempDir(), "wactl."+sh)
		os.WriteFile(path, []byte(out), 0o644)
		check := exec.Command(sh, "-n", path)
		if b, err := check.CombinedOutput(); err != nil {
			t.Fatalf("%s -n on the %s completion: %v\n%s", sh, sh, err, b)
		}
	}
	_, script, _ := wactl(t, "/nonexistent", "", "completion", "bash")
	path := filepath.Join(t.TempDir(), "wactl.bash")
	os.WriteFile(path, []byte(script), 0o644)
	for words, want := range map[string]string{
		"wactl lo":                                    "login logout",
		"wactl login sales --b":                       "--backend",
		"wactl login x --backend ":                    "whatsmeow chromedp",
		"wactl --json st":                             "status stop",
		"wactl re":                                    "react read revoke",
		"wactl send sales +4915112345678 --k":         "--kind",
		"wactl send sales +4915112345678 --kind ":     "image video audio voice document sticker",
		"wactl send sales +49 --file x.jpg --kind v":  "video voice",
		"wactl watch --kinds ":                        strings.Join(ctl.Kinds, " "),
		"wactl watch --kinds g":                       "group",
		"wactl watch --s":                             "--socket --since",
		"wactl watch sales --c":                       "--consumer",
		"wactl webhooks ":                             "retry",
		"wactl webhooks --d":                          "--dead-letters",
		"wactl webhooks retry ":                       "",
		"wactl gr":                                    "group",
		"wactl c":                                     "call chats check completion contact contacts",
		"wactl group ":                                "list info create add remove promote demote link join leave set",
		"wactl group --json l":                        "",
		"wactl group l":                               "list link leave",
		"wactl group set sales 1203@g.us --":          "--socket --json --announce --locked --name --topic",
		"wactl group link sales 1203@g.us -":          "--socket --json --reset",
		"wactl profile s":                             "set",
		"wactl profile set sales --p":                 "--picture",
		"wactl profile set sales --picture /nonexist": "",
		"wactl contact sales +49 --":                  "--socket --json --picture",
		"wactl call ":                                 "reject",
		"wactl call reject sales id from --":          "--socket --json --text",
		"wactl presence sub":                          "subscribe",
		"wactl presence subscribe sales +49 ":         "",
		"wactl presence sales +4915112345678 ":        "typing recording paused",
		"wactl presence --json sales chat r":          "recording",
		"wactl presence sales chat typing ":           "",
		"wactl download sales chat id -":              "--socket --json --force -o",
		"wactl send sales +49 --reply-to ID --m":      "--mention --mime",
		"wactl completion ":                           "bash zsh fish",
		"wactl --socket /tmp/x.sock completion z":     "zsh",
	} {
		w := strings.Fields(words)
		if strings.HasSuffix(words, " ") {
			w = append(w, "")
		}
		quoted := make([]string, len(w))
		for i, x := range w {
			quoted[i] = "'" + x + "'"
		}
		cmd := exec.Command("bash", "-c", fmt.Sprintf(`source %s; COMP_WORDS=(%s); COMP_CWORD=%d; _wactl; echo "${COMPREPLY[*]}"`, path, strings.Join(quoted, " "), len(w)-1))
		b, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(b)) != want {
			t.Errorf("completing %q: %q, %v; want %q", words, b, err, want)
		}
	}
}
