package contrib

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon"
	"github.com/wad-project/wad/daemon/daemontest"
	"github.com/wad-project/wad/daemon/webhooks"
	"github.com/wad-project/wad/sessions"
	"github.com/wad-project/wad/sessions/sessiontest"
)

// TestExampleConfigLoads prevents shipping an /etc/wad/wad.toml that the
// daemon refuses, or one that does not say what the package's units use.
func TestExampleConfigLoads(t *testing.T) {
	cfg, err := daemon.LoadConfig("wad.toml")
	if err != nil {
		t.Fatal(err)
	}
	def := daemon.DefaultConfig()
	if cfg.Socket != ctl.SystemSocket || cfg.StateDir != "/var/lib/wad" {
		t.Errorf("socket %q, state_dir %q; want %q and /var/lib/wad", cfg.Socket, cfg.StateDir, ctl.SystemSocket)
	}
	// Apart from the paths, the file states the defaults.
	cfg.Socket, cfg.StateDir = def.Socket, def.StateDir
	if cfg.Chromedp.Headless != nil && *cfg.Chromedp.Headless {
		cfg.Chromedp.Headless = def.Chromedp.Headless
	}
	if cfg.Reaper.Effective() == def.Reaper.Effective() {
		cfg.Reaper = def.Reaper
	}
	if cfg.Whatsmeow.DeviceName == "wad" && def.Whatsmeow.DeviceName == "" {
		cfg.Whatsmeow.DeviceName = ""
	}
	if cfg.Chromedp.WebURL != "" && def.Chromedp.WebURL == "" {
		cfg.Chromedp.WebURL = ""
	}
	if len(cfg.Chromedp.Flags) == 0 {
		cfg.Chromedp.Flags = def.Chromedp.Flags
	}
	if !reflect.DeepEqual(cfg, def) {
		t.Errorf("wad.toml states values other than the defaults:\n got %+v\nwant %+v", cfg, def)
	}
}

// TestExampleConfigDocumentsEveryKey prevents a config key the daemon
// reads but contrib/wad.toml does not show, and an example (commented
// [[access]] rules) that uses keys the daemon would reject.
func TestExampleConfigDocumentsEveryKey(t *testing.T) {
	data, err := os.ReadFile("wad.toml")
	if err != nil {
		t.Fatal(err)
	}
	// Uncomment the examples: lines "# key = ...", "# [[table]]" and
	// "# [table]".
	var b strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "# "); ok {
			if strings.HasPrefix(rest, "[") || (strings.Contains(rest, " = ") && !strings.Contains(rest, "  ")) {
				line = rest
			}
		}
		b.WriteString(line + "\n")
	}
	var cfg daemon.Config
	md, err := toml.Decode(b.String(), &cfg)
	if err != nil {
		t.Fatalf("wad.toml with its examples uncommented: %v\n%s", err, b.String())
	}
	if und := md.Undecoded(); len(und) > 0 {
		t.Errorf("wad.toml's examples use unknown keys: %v", und)
	}
	if len(cfg.Access) != 2 {
		t.Errorf("uncommenting found %d [[access]] examples, want 2", len(cfg.Access))
	}
	for _, key := range tomlKeys(reflect.TypeOf(daemon.Config{}), "") {
		if !md.IsDefined(strings.Split(key, ".")...) {
			t.Errorf("config key %s is not in contrib/wad.toml", key)
		}
	}
}

// tomlKeys lists the dotted TOML keys of a config struct, descending into
// tables ([[access]] rules count as access.KEY).
func tomlKeys(typ reflect.Type, prefix string) []string {
	var keys []string
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		ft := f.Type
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
			keys = append(keys, prefix+name) // array of tables: checked by its presence
			continue
		}
		if ft.Kind() == reflect.Struct && ft != reflect.TypeOf(time.Time{}) {
			keys = append(keys, tomlKeys(ft, prefix+name+".")...)
			continue
		}
		keys = append(keys, prefix+name)
	}
	return keys
}

// TestCompletionsCurrent prevents stale completions in contrib/: they must
// be what `wactl completion SHELL` generates from today's command tree,
// and each shell must parse its own.
func TestCompletionsCurrent(t *testing.T) {
	wactl := filepath.Join(t.TempDir(), "wactl")
	if out, err := exec.Command("go", "build", "-o", wactl, "../cmd/wactl").CombinedOutput(); err != nil {
		t.Fatalf("go build wactl: %v\n%s", err, out)
	}
	for shell, file := range map[string]string{"bash": "wactl.bash", "zsh": "_wactl", "fish": "wactl.fish"} {
		want, err := exec.Command(wactl, "completion", shell).Output()
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join("completions", file))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("contrib/completions/%s is stale: regenerate it with `go run ./cmd/wactl completion %s > contrib/completions/%s`", file, shell, file)
		}
		if _, err := exec.LookPath(shell); err != nil {
			t.Fatalf("%s is not installed: run `make deps`", shell)
		}
		if out, err := exec.Command(shell, "-n", filepath.Join("completions", file)).CombinedOutput(); err != nil {
			t.Errorf("%s -n completions/%s: %v\n%s", shell, file, err, out)
		}
	}
}

// exampleClients are the commands that run each example client.
var exampleClients = map[string][]string{
	"python": {"python3", "examples/python/wad_client.py"},
	"node":   {"node", "examples/node/wad-client.js"},
}

// startExample starts the example program argv (what names it in the
// log) with extra environment env, failing the test when its interpreter
// is missing; it returns the command and its stderr, and its stdout as
// lines. The command ends with the test at the latest.
func startExample(t *testing.T, what string, argv, env []string) (*exec.Cmd, *bytes.Buffer, <-chan string) {
	t.Helper()
	if _, err := exec.LookPath(argv[0]); err != nil {
		t.Fatalf("%s is not installed: run `make deps`", argv[0])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	stderr := &bytes.Buffer{}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			t.Logf("%s: %s", what, sc.Text())
			lines <- sc.Text()
		}
		io.Copy(io.Discard, stdout)
		close(lines)
	}()
	return cmd, stderr, lines
}

// startClient runs an example client against socket; it returns its
// stdout as lines and a function that waits for its exit.
func startClient(t *testing.T, lang, socket string, args ...string) (<-chan string, func() (int, string)) {
	t.Helper()
	argv := exampleClients[lang]
	argv = append(append(slices.Clone(argv), "--socket", socket, "--timeout", "30"), args...)
	cmd, stderr, lines := startExample(t, lang+" client", argv, nil)
	return lines, func() (int, string) {
		for range lines {
		}
		err := cmd.Wait()
		if err != nil {
			if ee, ok := err.(*exec.ExitError); ok {
				return ee.ExitCode(), stderr.String()
			}
			t.Fatalf("%s client: %v", lang, err)
		}
		return 0, stderr.String()
	}
}

// next returns the next stdout line of a client, failing after 30s.
func next(t *testing.T, lines <-chan string) string {
	t.Helper()
	select {
	case l, ok := <-lines:
		if !ok {
			t.Fatal("the client exited early")
		}
		return l
	case <-time.After(30 * time.Second):
		t.Fatal("the client printed nothing for 30s")
	}
	return ""
}

// TestExampleClientsSendWhenConnected prevents example clients that do not
// speak wad's protocol: against a real daemon on a real socket, with a
// session that is connected at once, each client logs in, sends, and the
// backend receives exactly that message.
func TestExampleClientsSendWhenConnected(t *testing.T) {
	for _, lang := range []string{"python", "node"} {
		t.Run(lang, func(t *testing.T) {
			b := &sessiontest.Backend{Connect: true}
			d := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{b}})
			lines, wait := startClient(t, lang, d.Socket, "sales", "+4915112345678", "hello from "+lang)
			if l := next(t, lines); l != "state connected" {
				t.Errorf("first line %q, want \"state connected\"", l)
			}
			if l := next(t, lines); !strings.HasPrefix(l, "sent ") || len(l) <= len("sent ") {
				t.Errorf("got %q, want \"sent ID\"", l)
			}
			if code, stderr := wait(); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			sent := b.Session("sales").Sent
			if len(sent) != 1 || sent[0].Text != "hello from "+lang || !strings.Contains(sent[0].To, "4915112345678") {
				t.Errorf("backend got %+v", sent)
			}
		})
	}
}

// TestExampleClientsWaitForQRScan prevents clients that send before the
// phone is linked, or miss the QR code: the session shows a QR code, the
// client prints it and sends nothing until the session turns connected.
func TestExampleClientsWaitForQRScan(t *testing.T) {
	for _, lang := range []string{"python", "node"} {
		t.Run(lang, func(t *testing.T) {
			b := &sessiontest.Backend{}
			d := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{b}})
			lines, wait := startClient(t, lang, d.Socket, "support", "+4915112345678", "after the scan")
			var qr string
			for qr == "" {
				if l := next(t, lines); strings.HasPrefix(l, "qr ") {
					qr = strings.TrimPrefix(l, "qr ")
				}
			}
			s := b.Session("support")
			if want := s.St.Get().QR; qr != want {
				t.Errorf("client printed QR %q, session has %q", qr, want)
			}
			if len(s.Sent) != 0 {
				t.Fatalf("the client sent before the phone was linked: %+v", s.Sent)
			}
			// The phone scans the code.
			s.St.Update(func(st *ctl.Session) {
				st.State, st.QR, st.JID = ctl.StateConnected, "", "4915100000000@s.whatsapp.net"
			})
			for l := next(t, lines); !strings.HasPrefix(l, "sent "); l = next(t, lines) {
			}
			if code, stderr := wait(); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if len(s.Sent) != 1 || s.Sent[0].Text != "after the scan" {
				t.Errorf("backend got %+v", s.Sent)
			}
		})
	}
}

// TestExampleClientsReportErrors prevents clients that hide a refused
// call: an invalid client id is rejected by the daemon, and the client
// exits 1 naming the error.
func TestExampleClientsReportErrors(t *testing.T) {
	for _, lang := range []string{"python", "node"} {
		t.Run(lang, func(t *testing.T) {
			d := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{&sessiontest.Backend{Connect: true}}})
			_, wait := startClient(t, lang, d.Socket, "no/such id", "+4915112345678", "x")
			code, stderr := wait()
			if code != 1 || !strings.Contains(stderr, fmt.Sprint(ctl.CodeInvalidParams)) {
				t.Errorf("exit %d, stderr %q; want 1 and error %d", code, stderr, ctl.CodeInvalidParams)
			}
		})
	}
}

// TestExampleClientsSendFiles prevents example clients whose file
// sending does not reach a backend intact: each sends a document, and
// the backend gets its bytes, name and caption. The Python client passes
// the open file (its request could not hold the bytes: the daemon's
// request limits are set below the file's size); the Node client, which
// cannot pass descriptors, sends them base64-encoded.
func TestExampleClientsSendFiles(t *testing.T) {
	for _, lang := range []string{"python", "node"} {
		t.Run(lang, func(t *testing.T) {
			size := 200
			o := daemontest.Options{}
			if lang == "python" {
				size = 64 << 10
				o.Config = func(c *daemon.Config) { c.MaxRequestBytes, c.MaxMediaRequestBytes = 4096, 4096 }
			}
			b := &sessiontest.Backend{Connect: true}
			o.Backends = []sessions.Backend{b}
			d := daemontest.Start(t, o)
			content := bytes.Repeat([]byte("quarterly figures\n"), size/18+1)[:size]
			path := filepath.Join(t.TempDir(), "figures.txt")
			os.WriteFile(path, content, 0o600)
			lines, wait := startClient(t, lang, d.Socket, "--file", path, "--caption", "from "+lang, "sales", "+4915112345678")
			for l := next(t, lines); !strings.HasPrefix(l, "sent "); l = next(t, lines) {
			}
			if code, stderr := wait(); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			sent := b.Session("sales").Sent
			sum := sha256.Sum256(content)
			if len(sent) != 1 || sent[0].Media == nil {
				t.Fatalf("backend got %+v", sent)
			}
			m := sent[0].Media
			if m.Kind != ctl.MediaDocument || m.Filename != "figures.txt" || m.Caption != "from "+lang || m.Size != int64(size) || m.SHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("backend got %+v, want the %d bytes of figures.txt", m, size)
			}
		})
	}
}

// TestPythonExampleDownloadLeavesNoFileOnError prevents a download
// helper that passes no writable descriptor, or leaves an empty file
// when the call fails: the stand-in backend cannot download, so the
// daemon refuses the call, the client exits 1 naming the error, and the
// file it created for the descriptor is gone. A file that exists
// is never opened for writing.
func TestPythonExampleDownloadLeavesNoFileOnError(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{&sessiontest.Backend{Connect: true}}})
	dir := t.TempDir()
	out := filepath.Join(dir, "photo.jpg")
	_, wait := startClient(t, "python", d.Socket, "--download", "3EB0C431D5A1", "--output", out, "sales", "+4915112345678")
	code, stderr := wait()
	if code != 1 || !strings.Contains(stderr, "message.download") || !strings.Contains(stderr, fmt.Sprint(ctl.CodeBackendUnavailable)) {
		t.Errorf("exit %d, stderr %q; want 1 and error %d", code, stderr, ctl.CodeBackendUnavailable)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("the failed download left %s: %v", out, err)
	}
	os.WriteFile(out, []byte("MINE"), 0o600)
	_, wait = startClient(t, "python", d.Socket, "--download", "3EB0C431D5A1", "--output", out, "sales", "+4915112345678")
	if code, stderr := wait(); code != 1 || !strings.Contains(stderr, "exists") {
		t.Errorf("existing output: exit %d, stderr %q", code, stderr)
	}
	if b, _ := os.ReadFile(out); string(b) != "MINE" {
		t.Errorf("existing output now holds %q", b)
	}
}

// exampleReceivers are the commands that run each webhook receiver.
var exampleReceivers = map[string][]string{
	"python": {"python3", "examples/webhooks/receiver.py"},
	"node":   {"node", "examples/webhooks/receiver.js"},
}

// TestExampleReceiversVerifySignatures prevents receivers whose
// signature check refuses wad's requests or takes forged ones: a real
// daemon's webhook delivers a session's events to each receiver, which
// prints them; a request whose signature, secret or timestamp is wrong
// is refused with 401 and not printed.
func TestExampleReceiversVerifySignatures(t *testing.T) {
	const secret = "s3cr3t-for-tests"
	for _, lang := range []string{"python", "node"} {
		t.Run(lang, func(t *testing.T) {
			argv := append(slices.Clone(exampleReceivers[lang]), "--port", "0")
			cmd, _, lines := startExample(t, lang+" receiver", argv, []string{"WAD_WEBHOOK_SECRET=" + secret})
			t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
			url, ok := strings.CutPrefix(next(t, lines), "listening on ")
			if !ok {
				t.Fatalf("the receiver did not say where it listens")
			}

			b := &sessiontest.Backend{Connect: true}
			d := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{b}, Config: func(c *daemon.Config) {
				c.Webhooks = []webhooks.Config{{Name: "receiver", URL: url, Secret: secret, Kinds: []string{ctl.KindMessage}}}
			}})
			if _, err := d.Client.Login(context.Background(), ctl.LoginParams{Client: "sales"}); err != nil {
				t.Fatal(err)
			}
			b.Session("sales").Emit(ctl.Event{Kind: ctl.KindMessage, Message: &ctl.Message{ID: "M1", Sender: "4915112345678@s.whatsapp.net", Text: "hi"}})
			got := next(t, lines)
			if !regexp.MustCompile(`^event \d+ sales message$`).MatchString(got) {
				t.Fatalf("receiver printed %q, want \"event SEQ sales message\"", got)
			}

			body := []byte(`{"seq":999,"client":"forged","kind":"message"}`)
			now := strconv.FormatInt(time.Now().Unix(), 10)
			old := strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10)
			for _, tc := range []struct {
				what, ts, sig string
				status        int
			}{
				{"another secret", now, webhooks.Sign("not the secret", "999", now, body), 401},
				{"an old timestamp", old, webhooks.Sign(secret, "999", old, body), 401},
				{"no signature", now, "", 401},
				{"a second signature that matches", now, "v1,AAAA " + webhooks.Sign(secret, "999", now, body), 204},
			} {
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
				req.Header.Set("webhook-id", "999")
				req.Header.Set("webhook-timestamp", tc.ts)
				if tc.sig != "" {
					req.Header.Set("webhook-signature", tc.sig)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tc.status {
					t.Errorf("a request with %s: status %d, want %d", tc.what, resp.StatusCode, tc.status)
				}
			}
			if got := next(t, lines); got != "event 999 forged message" {
				t.Errorf("receiver printed %q after the forged requests, want only the signed one", got)
			}
		})
	}
}

// resumeScripts use each example client's subscribe and ack: they
// subscribe to messages as consumer ARGV[2] (with since ARGV[3] unless
// it is -), acknowledge the first event and print its message id, its
// seq and the consumer's position.
var resumeScripts = map[string][]string{
	"python": {"python3", "-c", `
import sys, time
sys.path.insert(0, "examples/python")
from wad_client import WadClient
sock, consumer, since = sys.argv[1:4]
deadline = time.monotonic() + 30
wad = WadClient(sock)
wad.subscribe(kinds=["message"], since=None if since == "-" else int(since), consumer=consumer, deadline=deadline)
ev = wad.event(deadline)
print(ev["message"]["id"], ev["seq"], wad.ack(consumer, ev["seq"], deadline), flush=True)
wad.close()
`},
	"node": {"node", "-e", `
const { WadClient } = require(process.cwd() + '/examples/node/wad-client.js');
const [sock, consumer, since] = process.argv.slice(1);
(async () => {
  const wad = new WadClient(sock);
  await wad.ready;
  const first = new Promise((resolve) => { wad.onEvent = resolve; });
  await wad.subscribe({ kinds: ['message'], consumer, since: since === '-' ? undefined : Number(since) });
  const ev = await first;
  console.log(ev.message.id, ev.seq, await wad.ack(consumer, ev.seq));
  wad.close();
})().catch((e) => { console.error(e.message); process.exit(1); });
`},
}

// TestExampleClientsResumeAConsumer prevents subscribe and ack helpers
// that do not speak the event log's protocol: a replay from seq 0
// starts with the first message logged, and a consumer that acked it
// resumes with the next one.
func TestExampleClientsResumeAConsumer(t *testing.T) {
	for _, lang := range []string{"python", "node"} {
		t.Run(lang, func(t *testing.T) {
			argv := resumeScripts[lang]
			if _, err := exec.LookPath(argv[0]); err != nil {
				t.Fatalf("%s is not installed: run `make deps`", argv[0])
			}
			b := &sessiontest.Backend{Connect: true}
			d := daemontest.Start(t, daemontest.Options{Backends: []sessions.Backend{b}})
			if _, err := d.Client.Login(context.Background(), ctl.LoginParams{Client: "sales"}); err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{"M1", "M2"} {
				b.Session("sales").Emit(ctl.Event{Kind: ctl.KindMessage, Message: &ctl.Message{ID: id, Sender: "4915112345678@s.whatsapp.net", Text: "hi"}})
			}
			run := func(since string) []string {
				t.Helper()
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				out, err := exec.CommandContext(ctx, argv[0], append(argv[1:], d.Socket, "reader", since)...).Output()
				if err != nil {
					if ee, ok := err.(*exec.ExitError); ok {
						t.Fatalf("%s script: %v: %s", lang, err, ee.Stderr)
					}
					t.Fatal(err)
				}
				return strings.Fields(string(out))
			}
			first := run("0")
			if len(first) != 3 || first[0] != "M1" || first[1] != first[2] {
				t.Fatalf("replay from 0: %q, want M1 SEQ SEQ", first)
			}
			second := run("-")
			seq1, _ := strconv.ParseUint(first[1], 10, 64)
			seq2, _ := strconv.ParseUint(second[1], 10, 64)
			if len(second) != 3 || second[0] != "M2" || second[1] != second[2] || seq2 <= seq1 {
				t.Fatalf("the consumer's second subscribe: %q after %q, want M2 and a later seq", second, first)
			}
		})
	}
}
