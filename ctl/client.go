package ctl

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// Client talks to a running daemon over its Unix socket. The zero value is
// ready to use: it dials DefaultSocket on the first call. A Client is safe
// for concurrent use; one connection carries all calls and watches, and
// events reach each Watcher in the order the daemon sent them.
type Client struct {
	// Socket is the socket path; empty means DefaultSocket().
	Socket string
	// Dial, if set, replaces net.Dialer for tests or custom transports.
	Dial func(ctx context.Context, path string) (net.Conn, error)

	mu      sync.Mutex
	conn    net.Conn
	wmu     sync.Mutex // serialises writes
	nextID  uint64
	calls   map[uint64]*pendingCall
	err     error // set once the connection has failed
	watches map[string]*Watcher
	// sent is set once a byte of a request has been written on conn;
	// answered, when conn ended with no call awaiting a reply and no
	// watch on it.
	sent, answered bool
	// closed is set by Close: no call dials again.
	closed bool
}

// Dial connects to the daemon at socket (empty: DefaultSocket) and
// returns a connected Client.
func Dial(ctx context.Context, socket string) (*Client, error) {
	c := &Client{Socket: socket}
	if err := c.connect(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// NotRunningError says that nothing answers on the socket and how to
// start the daemon.
type NotRunningError struct {
	Socket string
	Err    error
}

func (e *NotRunningError) Error() string {
	return fmt.Sprintf("wad is not running (cannot connect to %s: %v); start it with `systemctl start wad`, or run `wad` in a terminal, or point --socket/WAD_SOCKET at its socket", e.Socket, errors.Unwrap(e.Err))
}

func (e *NotRunningError) Unwrap() error { return e.Err }

// ErrClosed is returned by calls on a Client whose connection is gone,
// including calls that were waiting for their reply when it went.
var ErrClosed = errors.New("connection to wad closed")

// pendingCall is a request waiting for its reply.
type pendingCall struct {
	reply chan rpcReply // 1-buffered
	// onResult, if set, runs on the reading goroutine with a successful
	// result before the next message is read: Watch registers its watcher
	// there, so an event right behind the reply finds it.
	onResult func(json.RawMessage)
}

// rpcReply is the outcome of a call: a result, or an error (an *Error
// from the daemon, or ErrClosed).
type rpcReply struct {
	Result json.RawMessage
	Err    error
}

// wire is any message on the socket, in either direction.
type wire struct {
	JSONRPC string           `json:"jsonrpc"`
	ID      *json.RawMessage `json:"id,omitempty"`
	Method  string           `json:"method,omitempty"`
	Params  any              `json:"params,omitempty"`
	Result  json.RawMessage  `json:"result,omitempty"`
	Error   *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

func (c *Client) connect(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		return nil
	}
	if c.err != nil {
		return c.err
	}
	path := c.Socket
	if path == "" {
		path = DefaultSocket()
		c.Socket = path
	}
	dial := c.Dial
	if dial == nil {
		dial = func(ctx context.Context, path string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
	}
	nc, err := dial(ctx, path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return &NotRunningError{Socket: path, Err: err}
		}
		if errors.Is(err, fs.ErrPermission) {
			return fmt.Errorf("permission denied on %s: ask your administrator to add you to group wad (%w)", path, err)
		}
		return fmt.Errorf("connecting to wad at %s: %w", path, err)
	}
	c.conn, c.sent, c.answered = nc, false, false
	c.calls = make(map[uint64]*pendingCall)
	go c.read(nc)
	return nil
}

// redialable reports, with c.mu held, whether a call may drop the
// connection nc and dial again: nc is still the connection, Close has
// not been called, no call on it awaits a reply and no watch uses it, and
// nothing is unknown of what was sent on it: nothing was, or it ended
// with every call answered. That is what a daemon that is shutting down
// does to a connection (see docs/wire.md): it answers what it read, and
// a request it did not read is owed to the next daemon.
func (c *Client) redialable(nc net.Conn) bool {
	return c.idle(nc) && (!c.sent || c.answered)
}

// idle reports, with c.mu held, whether nc is the connection, Close has
// not been called, and no call or watch depends on nc.
func (c *Client) idle(nc net.Conn) bool {
	return c.conn == nc && !c.closed && len(c.calls) == 0 && len(c.watches) == 0
}

// dropLocked forgets the connection, so that the next call dials.
func (c *Client) dropLocked() {
	c.conn.Close()
	c.conn, c.calls, c.watches, c.err = nil, nil, nil, nil
}

// read dispatches replies to their calls and events to their watchers,
// in arrival order, until the connection ends.
func (c *Client) read(nc net.Conn) {
	sc := bufio.NewScanner(nc)
	// A message.download reply carries up to 3/4 of the daemon's
	// max_media_request_bytes as base64.
	sc.Buffer(make([]byte, 0, 64<<10), 1<<30)
	for sc.Scan() {
		var m wire
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		if m.Method != "" {
			if m.Method == NotifyEvent {
				var n struct {
					Params Event `json:"params"`
				}
				if json.Unmarshal(sc.Bytes(), &n) == nil {
					c.onEvent(n.Params)
				}
			}
			continue
		}
		var id uint64
		if m.ID == nil || json.Unmarshal(*m.ID, &id) != nil {
			// An error the daemon could not attribute to a request (it
			// closes the connection after those it cannot answer).
			continue
		}
		r := rpcReply{Result: m.Result}
		if m.Error != nil {
			r.Err = &Error{Code: m.Error.Code, Message: m.Error.Message}
		}
		c.mu.Lock()
		pc := c.calls[id]
		delete(c.calls, id)
		c.mu.Unlock()
		if pc == nil {
			continue // its caller gave up
		}
		if r.Err == nil && pc.onResult != nil {
			pc.onResult(r.Result)
		}
		pc.reply <- r
	}
	c.fail(nc, ErrClosed)
}

// fail ends every call waiting for a reply on nc with err, and every
// watch, unless the client has moved on from nc.
func (c *Client) fail(nc net.Conn, err error) {
	c.mu.Lock()
	if c.conn != nc {
		c.mu.Unlock()
		return
	}
	if c.err == nil {
		c.err = err
		c.answered = len(c.calls) == 0 && len(c.watches) == 0
	}
	calls, ws := c.calls, c.watches
	c.calls, c.watches = nil, nil
	c.mu.Unlock()
	for _, pc := range calls {
		pc.reply <- rpcReply{Err: err}
	}
	for _, w := range ws {
		w.close()
	}
}

// Close closes the connection; watches end.
func (c *Client) Close() error {
	c.mu.Lock()
	nc := c.conn
	c.closed = true
	if c.err == nil {
		c.err = ErrClosed
	}
	c.mu.Unlock()
	if nc == nil {
		return nil
	}
	return nc.Close()
}

// Call invokes method with params and decodes its result into result
// (which may be nil). Error replies come back as *Error; a connection that
// is gone, or goes before the reply arrives, gives ErrClosed; a ctx that
// ends first gives ctx.Err().
func (c *Client) Call(ctx context.Context, method string, params, result any) error {
	return c.call(ctx, method, params, result, nil, nil)
}

// CallFiles is Call passing files with the request over the Unix socket
// (SCM_RIGHTS): the daemon reads or writes them with the rights they were
// opened with, and never opens a path itself. In params, an "fd" of n
// names files[n]. The caller keeps ownership of files (and may close
// them once CallFiles returns).
func (c *Client) CallFiles(ctx context.Context, method string, params, result any, files ...*os.File) error {
	return c.call(ctx, method, params, result, nil, files)
}

// call is Call with a hook that runs on the reading goroutine when the
// successful reply arrives (see pendingCall.onResult). When call returns nil,
// the hook has run; when it returns an error, the hook has not.
func (c *Client) call(ctx context.Context, method string, params, result any, onResult func(json.RawMessage), files []*os.File) error {
	if params == nil {
		params = Empty{}
	}
	var pc *pendingCall
	var id uint64
	// A request the daemon provably did not read is sent once more on a
	// new connection: see redialable.
	for again := true; ; again = false {
		if err := c.connect(ctx); err != nil {
			return err
		}
		c.mu.Lock()
		nc := c.conn
		if c.err != nil {
			if again && c.redialable(nc) {
				c.dropLocked()
				c.mu.Unlock()
				continue
			}
			c.mu.Unlock()
			return c.err
		}
		c.nextID++
		id = c.nextID
		pc = &pendingCall{reply: make(chan rpcReply, 1), onResult: onResult}
		c.calls[id] = pc
		c.mu.Unlock()

		raw := json.RawMessage(fmt.Sprint(id))
		msg := wire{JSONRPC: "2.0", ID: &raw, Method: method, Params: params}
		c.wmu.Lock()
		if dl, ok := ctx.Deadline(); ok {
			nc.SetWriteDeadline(dl)
		} else {
			nc.SetWriteDeadline(time.Time{})
		}
		n, err := writeLine(nc, msg, files)
		c.wmu.Unlock()
		c.mu.Lock()
		if n > 0 && c.conn == nc {
			c.sent = true
		}
		if err == nil {
			c.mu.Unlock()
			break
		}
		delete(c.calls, id)
		// EPIPE with nothing written: the daemon stopped reading
		// before this request, so it was not read.
		if again && n == 0 && errors.Is(err, syscall.EPIPE) && (c.conn != nc || c.idle(nc)) {
			if c.conn == nc {
				c.dropLocked()
			}
			c.mu.Unlock()
			continue
		}
		c.mu.Unlock()
		return fmt.Errorf("sending %s: %w", method, err)
	}
	var r rpcReply
	select {
	case r = <-pc.reply:
	case <-ctx.Done():
		c.mu.Lock()
		_, waiting := c.calls[id]
		delete(c.calls, id)
		c.mu.Unlock()
		if waiting {
			return ctx.Err()
		}
		// The reader (or fail) took the call just now: its reply, and
		// any hook, are the outcome.
		r = <-pc.reply
	}
	if r.Err != nil {
		return r.Err
	}
	if result == nil {
		return nil
	}
	if err := json.Unmarshal(r.Result, result); err != nil {
		return fmt.Errorf("decoding %s result: %w", method, err)
	}
	return nil
}

// writeLine writes msg as one line and returns how many bytes of it were
// written. The descriptors of files, if any, are attached to its first
// byte: the daemon gives a request the descriptors that arrive with its
// line.
func writeLine(nc net.Conn, msg any, files []*os.File) (int, error) {
	line, err := json.Marshal(msg)
	if err != nil {
		return 0, err
	}
	line = append(line, '\n')
	if len(files) == 0 {
		return nc.Write(line)
	}
	uc, ok := nc.(*net.UnixConn)
	if !ok {
		return 0, fmt.Errorf("passing files needs a Unix socket connection, not %T", nc)
	}
	fds := make([]int, len(files))
	for i, f := range files {
		fds[i] = int(f.Fd())
	}
	n, _, err := uc.WriteMsgUnix(line, syscall.UnixRights(fds...), nil)
	runtime.KeepAlive(files)
	if err != nil || n == len(line) {
		return n, err
	}
	m, err := uc.Write(line[n:])
	return n + m, err
}

// Version returns the daemon's version.
func (c *Client) Version(ctx context.Context) (*VersionResult, error) {
	var r VersionResult
	return &r, c.Call(ctx, MethodVersion, nil, &r)
}

// Status returns the daemon's status.
func (c *Client) Status(ctx context.Context) (*StatusResult, error) {
	var r StatusResult
	return &r, c.Call(ctx, MethodStatus, nil, &r)
}

// List returns every session.
func (c *Client) List(ctx context.Context) ([]Session, error) {
	var r ListResult
	return r.Sessions, c.Call(ctx, MethodList, nil, &r)
}

// Session returns one client's session; ErrNotFound if there is none.
func (c *Client) Session(ctx context.Context, client string) (*Session, error) {
	var r Session
	return &r, c.Call(ctx, MethodSession, ClientParams{Client: client}, &r)
}

// Login gets or creates the client's session and starts it; it returns
// once the session shows a QR code, a pairing code, is connected, or has
// failed.
func (c *Client) Login(ctx context.Context, p LoginParams) (*Session, error) {
	var r Session
	return &r, c.Call(ctx, MethodLogin, p, &r)
}

// Logout unlinks the client's device and removes its session.
func (c *Client) Logout(ctx context.Context, client string) (*Session, error) {
	var r Session
	return &r, c.Call(ctx, MethodLogout, ClientParams{Client: client}, &r)
}

// Stop stops the client's session and keeps its login.
func (c *Client) Stop(ctx context.Context, client string) (*Session, error) {
	var r Session
	return &r, c.Call(ctx, MethodStop, ClientParams{Client: client}, &r)
}

// Send sends a text message.
func (c *Client) Send(ctx context.Context, p SendParams) (*SendResult, error) {
	var r SendResult
	return &r, c.Call(ctx, MethodSend, p, &r)
}

// Watcher delivers the events of one subscription. C is closed when the
// watch ends (Close, or the connection closes).
type Watcher struct {
	ID string
	C  <-chan Event
	// Result is the daemon's answer to the subscribe: the log's head
	// then, and where a replay starts.
	Result SubscribeResult

	c       *Client
	ch      chan Event
	mu      sync.Mutex
	closed  bool
	dropped uint64
}

// Dropped returns how many events this client dropped locally because C
// was not read fast enough. (The daemon reports its own drops in
// Event.Dropped.)
func (w *Watcher) Dropped() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dropped
}

func (w *Watcher) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.closed = true
		close(w.ch)
	}
}

// Close ends the subscription: C is closed at once, and events the
// daemon still sends for it are dropped.
func (w *Watcher) Close() error {
	w.c.mu.Lock()
	_, live := w.c.watches[w.ID]
	delete(w.c.watches, w.ID)
	w.c.mu.Unlock()
	w.close()
	if !live {
		return nil
	}
	return w.c.Call(context.Background(), MethodUnsubscribe, UnsubscribeParams{Subscription: w.ID}, nil)
}

// watchBuffer is how many events a Watcher holds before it drops.
const watchBuffer = 1024

// Watch subscribes to events (empty params: every client, every kind).
// The daemon sends no event of a subscription before its reply, and the
// watcher is registered as that reply is read, so none is lost.
func (c *Client) Watch(ctx context.Context, p SubscribeParams) (*Watcher, error) {
	ch := make(chan Event, watchBuffer)
	w := &Watcher{C: ch, c: c, ch: ch}
	register := func(res json.RawMessage) {
		var r SubscribeResult
		if json.Unmarshal(res, &r) != nil {
			return // call reports the decoding error
		}
		w.ID, w.Result = r.Subscription, r
		// This runs on the reader, before its fail: a watcher registered
		// on a dying connection is closed there.
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.watches == nil {
			c.watches = make(map[string]*Watcher)
		}
		c.watches[w.ID] = w
	}
	if err := c.call(ctx, MethodSubscribe, p, nil, register, nil); err != nil {
		return nil, err
	}
	if w.ID == "" {
		return nil, fmt.Errorf("decoding %s result: no subscription id", MethodSubscribe)
	}
	return w, nil
}

// Ack records that consumer has processed every event up to seq and
// returns its position.
func (c *Client) Ack(ctx context.Context, consumer string, seq uint64) (uint64, error) {
	var r AckResult
	err := c.Call(ctx, MethodAck, AckParams{Consumer: consumer, Seq: seq}, &r)
	return r.Seq, err
}

// Webhooks returns the configured webhooks' delivery state, with their
// dead letters when deadLetters is set.
func (c *Client) Webhooks(ctx context.Context, deadLetters bool) ([]WebhookInfo, error) {
	var r WebhooksResult
	err := c.Call(ctx, MethodWebhooks, WebhooksParams{DeadLetters: deadLetters}, &r)
	return r.Webhooks, err
}

// WebhookRetry queues a webhook's dead letters (seq 0: all of them) for
// delivery again and returns how many.
func (c *Client) WebhookRetry(ctx context.Context, webhook string, seq uint64) (int, error) {
	var r WebhookRetryResult
	err := c.Call(ctx, MethodWebhookRetry, WebhookRetryParams{Webhook: webhook, Seq: seq}, &r)
	return r.Queued, err
}

func (w *Watcher) deliver(ev Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	select {
	case w.ch <- ev:
	default:
		w.dropped++
	}
}

// onEvent hands ev to its watcher; an event of a subscription that has no
// watcher (closed, or its Watch gave up) is dropped.
func (c *Client) onEvent(ev Event) {
	c.mu.Lock()
	w := c.watches[ev.Subscription]
	c.mu.Unlock()
	if w != nil {
		w.deliver(ev)
	}
}
