package wafake

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"
	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/proto/waWa6"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/util/keys"
	"google.golang.org/protobuf/proto"
)

// handshakeTimeout bounds each step of the Noise handshake.
const handshakeTimeout = 20 * time.Second

// iqTimeout bounds the fake's wait for a client's answer to its own iq
// (a device answers pair-success after saving itself, which a loaded
// test machine's SQLite can take long for).
const iqTimeout = 60 * time.Second

// conn is one client websocket: the handshake, then binary nodes in
// Noise transport frames.
type conn struct {
	s      *Server
	ws     *websocket.Conn
	ctx    context.Context
	cancel context.CancelFunc

	frames   frameReader
	queue    [][]byte
	read     cipher.AEAD
	readN    uint32
	wmu      sync.Mutex
	write    cipher.AEAD
	writeN   uint32
	noisePub [32]byte
	payload  *waWa6.ClientPayload

	// Set at login; nil while pairing.
	acct *Account
	dev  *Companion
	// available is set while the device has announced itself available
	// (<presence type=available>, presence.go). Guarded by s.mu.
	available bool

	wmuWait sync.Mutex
	waiters map[string]chan *waBinary.Node
	nextID  uint64
}

func newConn(s *Server, ws *websocket.Conn) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	return &conn{s: s, ws: ws, ctx: ctx, cancel: cancel, waiters: map[string]chan *waBinary.Node{}}
}

func (c *conn) closeNow() {
	c.cancel()
	c.ws.CloseNow()
}

// nextFrame returns the next frame the client sent.
func (c *conn) nextFrame(ctx context.Context) ([]byte, error) {
	for len(c.queue) == 0 {
		typ, msg, err := c.ws.Read(ctx)
		if err != nil {
			return nil, err
		}
		if typ != websocket.MessageBinary {
			continue
		}
		fs, err := c.frames.push(msg)
		if err != nil {
			return nil, err
		}
		c.queue = append(c.queue, fs...)
	}
	f := c.queue[0]
	c.queue = c.queue[1:]
	return f, nil
}

func (c *conn) sendRaw(data []byte) error {
	f, err := frame(data)
	if err != nil {
		return err
	}
	return c.ws.Write(c.ctx, websocket.MessageBinary, f)
}

// serve runs the connection until either side closes it.
func (c *conn) serve() {
	defer c.closeNow()
	if err := c.handshake(); err != nil {
		c.s.logf("handshake: %v", err)
		return
	}
	if err := c.begin(); err != nil {
		c.s.logf("%v", err)
		return
	}
	for {
		f, err := c.nextFrame(c.ctx)
		if err != nil {
			c.ended()
			return
		}
		plain, err := c.read.Open(nil, iv(c.readN), f, nil)
		c.readN++
		if err != nil {
			c.s.logf("undecryptable frame: %v", err)
			return
		}
		data, err := waBinary.Unpack(plain)
		if err != nil {
			c.s.logf("unpacking: %v", err)
			return
		}
		n, err := waBinary.Unmarshal(data)
		if err != nil {
			c.s.logf("decoding node: %v", err)
			return
		}
		c.s.logf("<- %s", n.XMLString())
		c.handle(n)
	}
}

// handshake runs the responder's side of Noise XX and reads the client's
// payload.
func (c *conn) handshake() error {
	ctx, cancel := context.WithTimeout(c.ctx, handshakeTimeout)
	defer cancel()
	f, err := c.nextFrame(ctx)
	if err != nil {
		return err
	}
	var hello waWa6.HandshakeMessage
	if err := proto.Unmarshal(f, &hello); err != nil {
		return fmt.Errorf("client hello: %w", err)
	}
	ce := hello.GetClientHello().GetEphemeral()
	if len(ce) != 32 {
		return fmt.Errorf("client hello has no ephemeral key")
	}
	h, err := newHandshake(c.frames.prologue)
	if err != nil {
		return err
	}
	h.authenticate(ce)
	eph := keys.NewKeyPair()
	h.authenticate(eph.Pub[:])
	if err := h.mixDH(eph.Priv[:], ce); err != nil {
		return err
	}
	static := h.encrypt(c.s.static.Pub[:])
	if err := h.mixDH(c.s.static.Priv[:], ce); err != nil {
		return err
	}
	cert := h.encrypt(c.s.chain)
	out, err := proto.Marshal(&waWa6.HandshakeMessage{ServerHello: &waWa6.HandshakeMessage_ServerHello{
		Ephemeral: eph.Pub[:], Static: static, Payload: cert,
	}})
	if err != nil {
		return err
	}
	if err := c.sendRaw(out); err != nil {
		return err
	}
	if f, err = c.nextFrame(ctx); err != nil {
		return err
	}
	var fin waWa6.HandshakeMessage
	if err := proto.Unmarshal(f, &fin); err != nil {
		return fmt.Errorf("client finish: %w", err)
	}
	cs, err := h.decrypt(fin.GetClientFinish().GetStatic())
	if err != nil || len(cs) != 32 {
		return fmt.Errorf("client static key: %v", err)
	}
	copy(c.noisePub[:], cs)
	if err := h.mixDH(eph.Priv[:], cs); err != nil {
		return err
	}
	raw, err := h.decrypt(fin.GetClientFinish().GetPayload())
	if err != nil {
		return fmt.Errorf("client payload: %w", err)
	}
	c.payload = &waWa6.ClientPayload{}
	if err := proto.Unmarshal(raw, c.payload); err != nil {
		return fmt.Errorf("client payload: %w", err)
	}
	c.read, c.write, err = h.split()
	return err
}

// send encodes and encrypts n and writes it as one frame.
func (c *conn) send(n waBinary.Node) error {
	data, err := waBinary.Marshal(n)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	ct := c.write.Seal(nil, iv(c.writeN), data, nil)
	c.writeN++
	c.s.logf("-> %s", n.XMLString())
	return c.sendRaw(ct)
}

// newID returns a fresh id for a node the server originates.
func (c *conn) newID() string {
	b := make([]byte, 4)
	rand.Read(b)
	c.wmuWait.Lock()
	c.nextID++
	n := c.nextID
	c.wmuWait.Unlock()
	return hex.EncodeToString(b) + "." + strconv.FormatUint(n, 10)
}

// request sends an iq the server originates and waits for the client's
// answer.
func (c *conn) request(n waBinary.Node) (*waBinary.Node, error) {
	id := n.Attrs["id"].(string)
	ch := make(chan *waBinary.Node, 1)
	c.wmuWait.Lock()
	c.waiters[id] = ch
	c.wmuWait.Unlock()
	defer func() {
		c.wmuWait.Lock()
		delete(c.waiters, id)
		c.wmuWait.Unlock()
	}()
	if err := c.send(n); err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		return r, nil
	case <-c.ctx.Done():
		// An answer read before the close still counts: the client may
		// answer and hang up at once (a refused pairing does), and
		// select picks among ready cases at random.
		select {
		case r := <-ch:
			return r, nil
		default:
			return nil, errClosed
		}
	case <-time.After(iqTimeout):
		return nil, fmt.Errorf("wafake: no answer to iq %s", id)
	}
}

// streamError sends a stream:error with children and closes the
// connection as the server does after one.
func (c *conn) streamError(code string, children ...waBinary.Node) {
	attrs := waBinary.Attrs{}
	if code != "" {
		attrs["code"] = code
	}
	n := waBinary.Node{Tag: "stream:error", Attrs: attrs}
	if len(children) > 0 {
		n.Content = children
	}
	c.send(n) //nolint:errcheck // closing anyway
	c.closeSoon()
}

// closeSoon closes the websocket if the client has not closed it within
// closeGrace. WhatsApp closes right after a stream:error or failure; the
// fake lets the client go first, because whatsmeow does on these, and a
// server close crossing whatsmeow's own can race its FrameSocket.closed
// flag (read without its lock in readPump), which the race detector
// would report in the test that happens to see it.
func (c *conn) closeSoon() {
	go func() {
		select {
		case <-time.After(closeGrace):
		case <-c.ctx.Done():
			return
		}
		c.ws.Close(websocket.StatusNormalClosure, "")
		c.cancel()
	}()
}

// closeGrace is how long closeSoon waits for the client to close.
const closeGrace = 10 * time.Second

// handle dispatches one node from the client.
func (c *conn) handle(n *waBinary.Node) {
	if id, ok := n.Attrs["id"].(string); ok && n.Tag == "iq" {
		if t := n.AttrGetter().OptionalString("type"); t == "result" || t == "error" {
			c.wmuWait.Lock()
			ch := c.waiters[id]
			c.wmuWait.Unlock()
			if ch != nil {
				ch <- n
			}
			// Answers to what the server sent without waiting (the
			// pair-device offer) need nothing more.
			return
		}
	}
	switch n.Tag {
	case "iq":
		c.handleIQ(n)
	case "ack", "receipt", "presence", "chatstate", "message", "notification", "call":
		c.handleStanza(n)
	}
}

// result answers iq n with a result carrying content.
func (c *conn) result(n *waBinary.Node, content ...waBinary.Node) {
	r := waBinary.Node{Tag: "iq", Attrs: waBinary.Attrs{"id": n.Attrs["id"], "type": "result", "from": types.ServerJID}}
	if len(content) > 0 {
		r.Content = content
	}
	c.send(r) //nolint:errcheck // the client sees the loss
}

// iqError answers iq n with an error.
func (c *conn) iqError(n *waBinary.Node, code int, text string) {
	c.send(waBinary.Node{Tag: "iq", Attrs: waBinary.Attrs{"id": n.Attrs["id"], "type": "error", "from": types.ServerJID},
		Content: []waBinary.Node{{Tag: "error", Attrs: waBinary.Attrs{"code": code, "text": text}}}}) //nolint:errcheck
}
