package whatsmeow_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/internal/wafake"
	"github.com/wad-project/wad/reaper"
)

// outboxKillEnv holds, as JSON, the childDaemonConfig of the test binary
// re-executed as the daemon TestKillNineInPreserveModeSendsTheQueuedMessageOnce
// kills (TestMain checks it): a real daemon in a process of its own, so
// that the test can SIGKILL it.
const outboxKillEnv = "WAD_OUTBOX_KILL_DAEMON"

// TestKillNineInPreserveModeSendsTheQueuedMessageOnce is `kill -9` of
// the daemon in preserve mode between queueing a message and sending it:
// the message is sent after the restart, exactly once as the fake sees
// it, under the id message.send returned, and the message sent before the
// kill is not sent again. It prevents a queue that loses what it
// answered queued to a crash (held in memory, or committed after the
// answer), and one that sends a finished message again on restore.
func TestKillNineInPreserveModeSendsTheQueuedMessageOnce(t *testing.T) {
	srv := newFake(t, wafake.Options{})
	me := newAccount(t, srv, "4915112345678", "Sales Desk")
	friend := newAccount(t, srv, "4915100000091", "Friend")
	state := t.TempDir()
	// t.TempDir() paths can exceed the 108-byte socket limit.
	sockDir, err := os.MkdirTemp("", "wad")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	root := wafake.RootKey()
	cfg := childDaemonConfig{
		StateDir: state, Socket: filepath.Join(sockDir, "wad.sock"),
		Fake: srv.Addr(), CA: srv.CAPEM(), Root: root[:],
		// One message a minute: the first goes at once on the burst
		// token, the second waits a minute for the next one.
		Outbox: &childPacing{PerMinute: 1, Burst: 1},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// Run 1: log in, send one message, queue a second, kill -9.
	a := startOutboxDaemon(t, cfg)
	r, err := a.Client.Login(ctx, ctl.LoginParams{Client: "sales"})
	if err != nil || r.State != ctl.StateQR || r.QR == "" {
		t.Fatalf("session.login: %+v, %v; want a QR code", r, err)
	}
	link(t, me, func() ctl.Session { return sessionOver(t, a.Client, "sales") })
	to := "+" + friend.Phone
	first := sendQueued(t, a.Client, ctl.SendParams{Client: "sales", To: to, Text: "Erste Nachricht"})
	waitPhone(t, friend, first.ID, "the first message")
	// Sent as the queue sees it, before the kill: a message being sent
	// when the daemon dies is rightly sent again (under the same id), and
	// this test is about the one still waiting.
	waitOutState(t, a.Client, "sales", first.ID, "sent", isSentOrBeyond)
	second := sendQueued(t, a.Client, ctl.SendParams{Client: "sales", To: to, Text: "Zweite Nachricht"})
	if second.ID == first.ID {
		t.Fatalf("both messages queued as %s", first.ID)
	}
	if st := outStatus(t, a.Client, "sales", second.ID); st.State != ctl.OutQueued {
		t.Fatalf("message.status of the second message before the kill: %+v, want queued (waiting for the rate limit)", st)
	}
	a.Kill(t)
	if n := countReceived(friend, second.ID); n != 0 {
		t.Fatalf("the phone got the second message %d times before the restart; the rate limit did not hold it", n)
	}

	// The service's restart: `wad reap` (ExecStartPre) in preserve mode,
	// then a daemon on the same state dir, now without a rate limit.
	if _, err := reaper.Run(ctx, reaper.Options{StateDir: state, Config: reaper.Config{Mode: reaper.ModePreserve},
		Log: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatalf("reap preserve: %v", err)
	}
	cfg.Outbox = &childPacing{}
	b := startOutboxDaemon(t, cfg)
	// Nobody calls session.login: the daemon restores the login.
	st := waitState(t, "the restored session connected", func() ctl.Session { return sessionOver(t, b.Client, "sales") },
		func(s ctl.Session) bool { return s.State == ctl.StateConnected })
	if st.QR != "" || st.JID != me.JID().String() {
		t.Fatalf("restored session: %+v", st)
	}
	got := waitPhone(t, friend, second.ID, "the queued message after the restart")
	if text := got.Message.GetConversation(); text != "Zweite Nachricht" {
		t.Errorf("the second message reached the phone as %q", text)
	}
	waitOutState(t, b.Client, "sales", second.ID, "sent", isSentOrBeyond)
	if st := outStatus(t, b.Client, "sales", first.ID); !isSentOrBeyond(st) {
		t.Errorf("message.status of the first message after the restart: %+v, want sent or beyond", st)
	}
	// Counted once the daemon is gone: nothing can arrive later.
	b.Stop(t)
	for _, m := range []struct{ name, id string }{{"first", first.ID}, {"second", second.ID}} {
		if n := countReceived(friend, m.id); n != 1 {
			t.Errorf("the phone received the %s message (%s) %d times, want once", m.name, m.id, n)
		}
	}
	if n := srv.Linked(); n != 1 {
		t.Errorf("%d devices linked, want the one (restored, not linked again)", n)
	}
}

// runOutboxKillDaemon is the killed daemon's main: it pins the parent's
// fake root key, refuses every connection but the fake's, starts a
// daemon in preserve mode on the state dir (which restores every stored
// login) with the pacing given, and prints "ready" once its socket
// listens. It shuts down on SIGTERM, or when stdin ends (the parent is
// gone). It returns the exit code.
func runOutboxKillDaemon() int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "outbox kill daemon:", err)
		return 1
	}
	// The log goes to stderr, which the parent shows if the test fails.
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer cancel()
	go func() {
		io.Copy(io.Discard, os.Stdin) //nolint:errcheck // ends when the parent closes it or dies
		cancel()
	}()
	d, err := newChildDaemon(ctx, outboxKillEnv, log)
	if err != nil {
		return fail(err)
	}
	fmt.Println("ready")
	if err := serveChildDaemon(ctx, d); err != nil {
		return fail(err)
	}
	return 0
}

// outboxDaemon is the parent's handle on a killed daemon's process.
type outboxDaemon struct {
	// Client is connected to the daemon's socket.
	Client *ctl.Client

	*childProcess
	exited chan struct{} // closed once cmd.Wait returned
	err    error         // cmd.Wait's, once exited is closed
}

// startOutboxDaemon starts a daemon's process on cfg and connects to its
// socket. The process is killed, if still running, when t ends, and its
// log shown if t failed.
func startOutboxDaemon(t *testing.T, cfg childDaemonConfig) *outboxDaemon {
	t.Helper()
	od := &outboxDaemon{childProcess: startChild(t, outboxKillEnv, cfg), exited: make(chan struct{})}
	t.Cleanup(func() {
		od.stdin.Close()
		select {
		case <-od.exited:
		default:
			od.cmd.Process.Kill() //nolint:errcheck // it may have just exited
			<-od.exited
		}
		if t.Failed() {
			t.Logf("daemon process %d:\n%s", od.cmd.Process.Pid, od.stderr)
		}
	})
	ready := make(chan string, 1)
	go func() {
		line, _ := od.stdout.ReadString('\n')
		ready <- line
		io.Copy(io.Discard, od.stdout) //nolint:errcheck // until the process exits
		od.err = od.cmd.Wait()
		close(od.exited)
	}()
	select {
	case line := <-ready:
		if line != "ready\n" {
			t.Fatalf("the daemon's process did not start: %q", line)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the daemon's process did not start within a minute")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var err error
	if od.Client, err = ctl.Dial(ctx, cfg.Socket); err != nil {
		t.Fatalf("dialing the daemon: %v", err)
	}
	t.Cleanup(func() { od.Client.Close() })
	return od
}

// Kill SIGKILLs the daemon's process and waits until it is gone.
func (od *outboxDaemon) Kill(t *testing.T) {
	t.Helper()
	od.Client.Close()
	if err := od.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill -9: %v", err)
	}
	od.wait(t, "kill -9")
	var ee *exec.ExitError
	if !errors.As(od.err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the daemon's process ended with %v, not by kill -9", od.err)
	}
}

// Stop sends the daemon's process SIGTERM and waits until it is gone;
// it fails t unless the process shut down cleanly.
func (od *outboxDaemon) Stop(t *testing.T) {
	t.Helper()
	od.Client.Close()
	if err := od.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	od.wait(t, "SIGTERM")
	if od.err != nil {
		t.Fatalf("the daemon's process did not shut down cleanly: %v", od.err)
	}
}

func (od *outboxDaemon) wait(t *testing.T, after string) {
	t.Helper()
	select {
	case <-od.exited:
	case <-time.After(time.Minute):
		t.Fatalf("the daemon's process still runs a minute after %s", after)
	}
}

// sessionOver returns client's session as session.status over c shows
// it; the zero Session while the daemon has none (not restored yet).
func sessionOver(t *testing.T, c *ctl.Client, client string) ctl.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := c.Session(ctx, client)
	if errors.Is(err, ctl.ErrNotFound) {
		return ctl.Session{}
	}
	if err != nil {
		t.Fatalf("session.status %s: %v", client, err)
	}
	return *st
}

// sendQueued calls message.send without wait and checks that the daemon
// answered at once with an id and state queued.
func sendQueued(t *testing.T, c *ctl.Client, p ctl.SendParams) *ctl.SendResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := c.Send(ctx, p)
	if err != nil || res.ID == "" || res.State != ctl.OutQueued {
		t.Fatalf("message.send %q: %+v, %v; want an id, queued", p.Text, res, err)
	}
	return res
}

// outStatus returns message.status of message id of client.
func outStatus(t *testing.T, c *ctl.Client, client, id string) ctl.MessageStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var st ctl.MessageStatus
	if err := c.Call(ctx, ctl.MethodMsgStatus, ctl.MessageStatusParams{Client: client, ID: id}, &st); err != nil {
		t.Fatalf("message.status %s: %v", id, err)
	}
	return st
}

// waitOutState polls message.status of message id until cond holds.
func waitOutState(t *testing.T, c *ctl.Client, client, id, what string, cond func(ctl.MessageStatus) bool) ctl.MessageStatus {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st := outStatus(t, c, client, id)
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("message %s never %s: %+v", id, what, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// isSentOrBeyond reports whether WhatsApp took the message.
func isSentOrBeyond(st ctl.MessageStatus) bool {
	return slices.Contains([]string{ctl.OutSent, ctl.OutDelivered, ctl.OutRead, ctl.OutPlayed}, st.State)
}

// waitPhone waits until acct's phone has received message id (what),
// decrypted, and returns it.
func waitPhone(t *testing.T, acct *wafake.Account, id, what string) wafake.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	m, err := acct.WaitMessage(ctx, func(m wafake.Message) bool { return m.ID == id })
	if err != nil {
		t.Fatalf("%s (%s) never reached the phone: %v", what, id, err)
	}
	if m.Err != nil {
		t.Fatalf("%s (%s) reached the phone undecryptable: %v", what, id, m.Err)
	}
	return m
}

// countReceived counts the messages with id acct's phone has received.
func countReceived(acct *wafake.Account, id string) int {
	n := 0
	for _, m := range acct.Received() {
		if m.ID == id {
			n++
		}
	}
	return n
}
