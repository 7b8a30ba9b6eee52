package wafake

// Remote fake for benchmarks.
//
// A benchmark that measures the memory of wad's process must not count
// the fake's: it runs the fake in a process of its own. ServeRemote is
// that process's main loop (a test binary re-executing itself calls it
// from TestMain); Remote, in the measured process, starts and drives it;
// HTTPClientFor (or Remote.HTTPClient) is how the measured process's
// whatsmeow clients reach it over loopback. The two processes share the
// Noise root key (the parent's is handed to the child first thing), so
// the parent's InstallRoot pins the key the child's certificate chains
// are signed with. Other processes of the same test (a daemon whose
// memory is measured, say) take the key with UseRoot(RootKey()) passed
// on by the parent, before their InstallRoot.
//
// The control protocol is one line per message on the child's stdin
// (requests) and stdout (answers):
//
//	parent: root <private root key, hex>      first, once
//	child:  ready <listen address> <CA certificate PEM, base64>
//	parent: <id> <command> [arguments]
//	child:  <id> ok [result]  or  <id> err <message>
//
// with the commands
//
//	account <phone> <push name>   Server.AddAccount
//	scan <phone> <QR code>        that account's phone scans the code
//	                              (Account.Scan); the result is the JID
//	linked                        Server.Linked
//	online                        devices with a logged-in connection
//	logins                        successful logins of all devices
//	uploads                       media uploads so far (Server.Uploads)
//	expire [<direct path> ...]    Server.ExpireMedia; the result is the
//	                              count expired
//	rss                           the child's resident set (VmRSS), bytes
//
// Requests run concurrently (a scan waits for the device's answer) and
// are answered as they finish, each under its id. The child closes its
// Server and ServeRemote returns when stdin ends, so a parent that dies
// takes the fake with it.

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/util/keys"
)

// RootKey returns the private half of the process's Noise root key (made
// on first use): what another process of the same test passes to UseRoot
// so that both trust, or sign with, the same key.
func RootKey() [32]byte { return *root().Priv }

// UseRoot makes priv the process's Noise root key, as another process
// that runs a fake or its clients has it (RootKey). Call it before
// InstallRoot and New; it fails if the process already uses another key.
func UseRoot(priv [32]byte) error {
	kp := keys.NewKeyPairFromPrivateKey(priv)
	rootMu.Lock()
	defer rootMu.Unlock()
	if rootKey != nil && *rootKey.Priv != priv {
		return errors.New("wafake: this process already uses another root key")
	}
	rootKey = kp
	return nil
}

// HTTPClientFor returns a client that reaches only a fake listening on
// addr, a loopback address (another process's Server.Addr): its dialer
// maps Host:443 to addr and refuses every other address, it uses no
// proxy, and it trusts only the CA in caPEM (that Server's CAPEM). It
// fails if addr is not a loopback IP address and port or caPEM holds no
// certificate.
func HTTPClientFor(addr string, caPEM []byte) (*http.Client, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("wafake: fake address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("wafake: fake address %q is not a loopback address", addr)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("wafake: no CA certificate in the PEM given")
	}
	return httpClient(dialOnly(addr, nil), pool), nil
}

// ServeRemote runs a Server with opts for a parent process that drives
// it over in (requests) and out (answers), in the protocol above, until
// in ends; then it closes the Server. It returns an error if the
// protocol could not start (no root key first, the Server failed) or
// closing the Server failed.
func ServeRemote(in io.Reader, out io.Writer, opts Options) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	if !sc.Scan() {
		return fmt.Errorf("wafake: remote: no root key: %v", sc.Err())
	}
	f := strings.Fields(sc.Text())
	if len(f) != 2 || f[0] != "root" {
		return fmt.Errorf("wafake: remote: want the root key first, got %q", sc.Text())
	}
	b, err := hex.DecodeString(f[1])
	if err != nil || len(b) != 32 {
		return errors.New("wafake: remote: the root key is not 32 bytes of hex")
	}
	if err := UseRoot([32]byte(b)); err != nil {
		return err
	}
	s, err := New(opts)
	if err != nil {
		return err
	}
	var wmu sync.Mutex
	reply := func(format string, args ...any) {
		line := strings.ReplaceAll(fmt.Sprintf(format, args...), "\n", " ")
		wmu.Lock()
		defer wmu.Unlock()
		io.WriteString(out, line+"\n") //nolint:errcheck // a gone parent ends in as well
	}
	reply("ready %s %s", s.Addr(), base64.StdEncoding.EncodeToString(s.CAPEM()))
	var wg sync.WaitGroup
	for sc.Scan() {
		id, req, _ := strings.Cut(sc.Text(), " ")
		wg.Go(func() {
			res, err := s.remoteRequest(req)
			if err != nil {
				reply("%s err %v", id, err)
				return
			}
			reply("%s ok %s", id, res)
		})
	}
	err = s.Close() // also ends the scans still waiting for a device
	wg.Wait()
	return err
}

// remoteRequest runs one request of the protocol and returns its result.
func (s *Server) remoteRequest(req string) (string, error) {
	cmd, args, _ := strings.Cut(req, " ")
	switch cmd {
	case "account":
		phone, name, _ := strings.Cut(args, " ")
		_, err := s.AddAccount(phone, name)
		return "", err
	case "scan":
		phone, code, _ := strings.Cut(args, " ")
		a := s.Account(phone)
		if a == nil {
			return "", fmt.Errorf("wafake: no account %q", phone)
		}
		jid, err := a.Scan(code)
		return jid.String(), err
	case "linked":
		return strconv.Itoa(s.Linked()), nil
	case "online", "logins":
		s.mu.Lock()
		n := 0
		for _, a := range s.accounts {
			for _, c := range a.companions {
				if cmd == "logins" {
					n += c.logins
				} else if c.conn != nil {
					n++
				}
			}
		}
		s.mu.Unlock()
		return strconv.Itoa(n), nil
	case "uploads":
		return strconv.Itoa(len(s.Uploads())), nil
	case "expire":
		return strconv.Itoa(s.ExpireMedia(strings.Fields(args)...)), nil
	case "rss":
		n, err := vmRSS()
		return strconv.FormatUint(n, 10), err
	}
	return "", fmt.Errorf("wafake: unknown request %q", cmd)
}

// vmRSS reads the process's resident set size from /proc (Linux).
func vmRSS() (uint64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("wafake: no VmRSS in /proc/self/status")
}

// Remote drives a fake served by ServeRemote in another process.
type Remote struct {
	addr  string
	caPEM []byte
	hc    *http.Client
	w     io.WriteCloser
	cmd   *exec.Cmd // nil unless StartRemote started it

	mu      sync.Mutex
	next    uint64
	waiting map[uint64]chan remoteAnswer
	err     error // why the answers ended
}

type remoteAnswer struct {
	res string
	err error
}

// StartRemote starts cmd, a process that runs ServeRemote on its stdin
// and stdout (cmd.Stdin and cmd.Stdout must be unset), and returns its
// Remote. Close ends the process.
func StartRemote(cmd *exec.Cmd) (*Remote, error) {
	w, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	r, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	rm, err := NewRemote(r, w)
	if err != nil {
		w.Close()
		cmd.Process.Kill() //nolint:errcheck
		cmd.Wait()         //nolint:errcheck
		return nil, err
	}
	rm.cmd = cmd
	return rm, nil
}

// NewRemote speaks the protocol over r (the fake's answers) and w (its
// requests): it hands over this process's root key, reads the fake's
// address and CA, and answers calls from then on.
func NewRemote(r io.Reader, w io.WriteCloser) (*Remote, error) {
	if _, err := fmt.Fprintf(w, "root %x\n", RootKey()); err != nil {
		return nil, fmt.Errorf("wafake: remote: %w", err)
	}
	br := bufio.NewReader(r)
	line, err := br.ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("wafake: remote did not start: %w", err)
	}
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "ready" {
		return nil, fmt.Errorf("wafake: remote did not start: %q", line)
	}
	ca, err := base64.StdEncoding.DecodeString(f[2])
	if err != nil {
		return nil, fmt.Errorf("wafake: remote CA: %w", err)
	}
	hc, err := HTTPClientFor(f[1], ca)
	if err != nil {
		return nil, err
	}
	rm := &Remote{addr: f[1], caPEM: ca, hc: hc, w: w, waiting: map[uint64]chan remoteAnswer{}}
	go rm.read(br)
	return rm, nil
}

func (rm *Remote) read(br *bufio.Reader) {
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			rm.mu.Lock()
			rm.err = fmt.Errorf("wafake: remote ended: %w", err)
			for id, ch := range rm.waiting {
				ch <- remoteAnswer{err: rm.err}
				delete(rm.waiting, id)
			}
			rm.mu.Unlock()
			return
		}
		ids, rest, _ := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
		status, res, _ := strings.Cut(rest, " ")
		id, _ := strconv.ParseUint(ids, 10, 64)
		rm.mu.Lock()
		ch := rm.waiting[id]
		delete(rm.waiting, id)
		rm.mu.Unlock()
		if ch == nil {
			continue
		}
		if status == "ok" {
			ch <- remoteAnswer{res: res}
		} else {
			ch <- remoteAnswer{err: errors.New(res)}
		}
	}
}

// call sends one request and waits for its answer or for ctx to end.
func (rm *Remote) call(ctx context.Context, req string) (string, error) {
	ch := make(chan remoteAnswer, 1)
	rm.mu.Lock()
	if rm.err != nil {
		rm.mu.Unlock()
		return "", rm.err
	}
	rm.next++
	id := rm.next
	rm.waiting[id] = ch
	_, err := fmt.Fprintf(rm.w, "%d %s\n", id, req)
	if err != nil {
		delete(rm.waiting, id)
	}
	rm.mu.Unlock()
	if err != nil {
		return "", fmt.Errorf("wafake: remote: %w", err)
	}
	select {
	case a := <-ch:
		return a.res, a.err
	case <-ctx.Done():
		rm.mu.Lock()
		delete(rm.waiting, id)
		rm.mu.Unlock()
		return "", ctx.Err()
	}
}

func (rm *Remote) count(ctx context.Context, req string) (int, error) {
	res, err := rm.call(ctx, req)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(res)
}

// Addr is the loopback address the remote fake listens on.
func (rm *Remote) Addr() string { return rm.addr }

// CAPEM is the remote fake's CA certificate, PEM.
func (rm *Remote) CAPEM() []byte { return append([]byte(nil), rm.caPEM...) }

// HTTPClient returns a client that reaches only the remote fake (see
// HTTPClientFor); give it to whatsmeow as Server.HTTPClient's.
func (rm *Remote) HTTPClient() *http.Client { return rm.hc }

// AddAccount registers an account (Server.AddAccount) in the remote fake.
func (rm *Remote) AddAccount(ctx context.Context, phone, pushName string) error {
	if !isDigits(phone) || strings.Contains(pushName, "\n") {
		return fmt.Errorf("wafake: account %q %q cannot be sent", phone, pushName)
	}
	_, err := rm.call(ctx, "account "+phone+" "+pushName)
	return err
}

// Scan has the phone of account phone scan a QR code (Account.Scan) and
// returns the device it linked.
func (rm *Remote) Scan(ctx context.Context, phone, code string) (types.JID, error) {
	if strings.ContainsAny(phone+code, " \n") {
		return types.EmptyJID, fmt.Errorf("wafake: scan %q %q cannot be sent", phone, code)
	}
	res, err := rm.call(ctx, "scan "+phone+" "+code)
	if err != nil {
		return types.EmptyJID, err
	}
	return types.ParseJID(res)
}

// Linked counts the devices linked to any account (Server.Linked).
func (rm *Remote) Linked(ctx context.Context) (int, error) { return rm.count(ctx, "linked") }

// Online counts the linked devices with a logged-in connection.
func (rm *Remote) Online(ctx context.Context) (int, error) { return rm.count(ctx, "online") }

// Logins counts the successful logins of all devices so far.
func (rm *Remote) Logins(ctx context.Context) (int, error) { return rm.count(ctx, "logins") }

// Uploads counts the media uploads to the remote fake (Server.Uploads).
func (rm *Remote) Uploads(ctx context.Context) (int, error) { return rm.count(ctx, "uploads") }

// ExpireMedia makes blobs of the remote fake no longer downloadable
// (Server.ExpireMedia: those at the direct paths given, or all) and
// returns how many it expired.
func (rm *Remote) ExpireMedia(ctx context.Context, directPaths ...string) (int, error) {
	for _, p := range directPaths {
		if p == "" || strings.ContainsAny(p, " \n") {
			return 0, fmt.Errorf("wafake: direct path %q cannot be sent", p)
		}
	}
	return rm.count(ctx, strings.TrimSpace("expire "+strings.Join(directPaths, " ")))
}

// RSS is the remote fake process's resident set size in bytes.
func (rm *Remote) RSS(ctx context.Context) (uint64, error) {
	res, err := rm.call(ctx, "rss")
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(res, 10, 64)
}

// Close ends the requests, which makes the remote fake close its Server
// and return; a process StartRemote started is waited for (and killed
// after 10 s).
func (rm *Remote) Close() error {
	err := rm.w.Close()
	if rm.cmd == nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- rm.cmd.Wait() }()
	select {
	case werr := <-done:
		return errors.Join(err, werr)
	case <-time.After(10 * time.Second):
		rm.cmd.Process.Kill() //nolint:errcheck
		return errors.Join(err, errors.New("wafake: the remote fake did not exit; killed"), <-done)
	}
}
