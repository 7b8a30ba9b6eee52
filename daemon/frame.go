package daemon

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/creachadair/jrpc2/channel"

	"github.com/wad-project/wad/ctl"
)

// lineChannel is jrpc2's newline framing with a bound: a line longer than
// max bytes is read to its end and thrown away without being buffered, and
// the peer gets an invalid-request error for it; the connection stays
// usable. Blank lines are ignored, so people typing into socat can press
// Enter. Writes are serialised because both jrpc2 and the size-error path
// write.
//
// When the peer half-closes (`printf '...' | socat - UNIX-CONNECT:...`),
// the end of input is held back until every request read so far has been
// answered: jrpc2 drops queued requests when its channel reports EOF, and
// a scripted client deserves its replies.
type lineChannel struct {
	r   *bufio.Reader
	wc  io.WriteCloser
	max int

	mu      sync.Mutex // serialises writes; guards pending
	pending int        // requests read that still owe a reply
	replied chan struct{}
	closed  chan struct{}
	once    sync.Once
}

// drainTimeout bounds how long a half-closed connection waits for its
// outstanding replies.
const drainTimeout = 5 * time.Minute

var _ channel.Channel = (*lineChannel)(nil)

func newLineChannel(r io.Reader, wc io.WriteCloser, max int) *lineChannel {
	return &lineChannel{
		r: bufio.NewReaderSize(r, 64<<10), wc: wc, max: max,
		replied: make(chan struct{}, 1), closed: make(chan struct{}),
	}
}

func (c *lineChannel) Send(msg []byte) error {
	if bytes.IndexByte(msg, '\n') >= 0 {
		return fmt.Errorf("message contains a newline")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.writeLocked(msg)
	if isReply(msg) && c.pending > 0 {
		c.pending--
		select {
		case c.replied <- struct{}{}:
		default:
		}
	}
	return err
}

func (c *lineChannel) write(msg []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writeLocked(msg)
}

// writeTimeout is how long a peer may leave a write unread. jrpc2 holds
// its server lock while it writes, so a peer that stops reading would
// otherwise stall its own connection for good; past this it is dropped.
const writeTimeout = 30 * time.Second

func (c *lineChannel) writeLocked(msg []byte) error {
	if dc, ok := c.wc.(interface{ SetWriteDeadline(time.Time) error }); ok {
		dc.SetWriteDeadline(time.Now().Add(writeTimeout))
	}
	_, err := c.wc.Write(append(msg, '\n'))
	return err
}

// drain waits until every request read has been answered, the channel is
// closed, or drainTimeout passes.
func (c *lineChannel) drain() {
	deadline := time.After(drainTimeout)
	for {
		c.mu.Lock()
		n := c.pending
		c.mu.Unlock()
		if n == 0 {
			return
		}
		select {
		case <-c.replied:
		case <-c.closed:
			return
		case <-deadline:
			return
		}
	}
}

// needsReply reports whether an inbound line will be answered: a request
// with an id, a batch holding one, or anything jrpc2 will call an error.
func needsReply(line []byte) bool {
	line = bytes.TrimSpace(line)
	var one struct {
		ID json.RawMessage `json:"id"`
	}
	if len(line) > 0 && line[0] == '[' {
		var batch []json.RawMessage
		if json.Unmarshal(line, &batch) != nil || len(batch) == 0 {
			return true
		}
		for _, m := range batch {
			one.ID = nil
			if json.Unmarshal(m, &one) != nil || one.ID != nil {
				return true
			}
		}
		return false
	}
	if json.Unmarshal(line, &one) != nil {
		return true
	}
	return one.ID != nil
}

// precheck returns an invalid-request reply for a line that is valid JSON
// but not a request: not an object or array, or an object whose method is
// not a string. It returns nil for everything jrpc2 should see.
func precheck(line []byte) []byte {
	line = bytes.TrimSpace(line)
	if !json.Valid(line) {
		return nil // jrpc2 replies with a parse error
	}
	invalid := func(id json.RawMessage, msg string) []byte {
		if len(id) == 0 {
			id = json.RawMessage("null")
		}
		b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id,
			"error": map[string]any{"code": ctl.CodeInvalidRequest, "message": msg}})
		return b
	}
	switch line[0] {
	case '[':
		return nil
	case '{':
		var m struct {
			ID     json.RawMessage `json:"id"`
			Method json.RawMessage `json:"method"`
		}
		if json.Unmarshal(line, &m) != nil {
			return invalid(nil, "invalid request object")
		}
		if len(m.Method) > 0 && m.Method[0] != '"' {
			return invalid(m.ID, "invalid request: method must be a string")
		}
		return nil
	}
	return invalid(nil, "invalid request: want a JSON-RPC request object or batch")
}

// isReply reports whether an outbound message is a response (or batch of
// responses) rather than a server push.
func isReply(msg []byte) bool {
	if len(msg) > 0 && msg[0] == '[' {
		return true
	}
	var m struct {
		Method *json.RawMessage `json:"method"`
	}
	return json.Unmarshal(msg, &m) == nil && m.Method == nil
}

func (c *lineChannel) Recv() ([]byte, error) {
	for {
		line, tooLong, err := c.readLine()
		if tooLong {
			msg := fmt.Sprintf(`{"jsonrpc":"2.0","id":null,"error":{"code":%d,"message":"request too large: the limit is %d bytes per line"}}`, ctl.CodeInvalidRequest, c.max)
			if serr := c.write([]byte(msg)); serr != nil {
				return nil, serr
			}
			if err != nil {
				return nil, err
			}
			continue
		}
		if len(bytes.TrimSpace(line)) == 0 {
			if err != nil {
				c.drain()
				return nil, err
			}
			continue
		}
		if rep := precheck(line); rep != nil {
			// Valid JSON that is no request: answer here, since jrpc2
			// would call it a parse error.
			if serr := c.write(rep); serr != nil {
				return nil, serr
			}
			if err != nil {
				c.drain()
				return nil, err
			}
			continue
		}
		if needsReply(line) {
			c.mu.Lock()
			c.pending++
			c.mu.Unlock()
		}
		if err == io.EOF {
			// Hand over the last line now; report EOF on the next call,
			// after its reply.
			err = nil
		}
		return line, err
	}
}

// readLine returns the next line without its newline, or tooLong after
// discarding a line over the bound.
func (c *lineChannel) readLine() (line []byte, tooLong bool, err error) {
	var buf []byte
	for {
		chunk, err := c.r.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(chunk) > c.max+1 {
				tooLong, buf = true, nil
			} else {
				buf = append(buf, chunk...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if tooLong {
			return nil, true, err
		}
		return bytes.TrimSuffix(buf, []byte("\n")), false, err
	}
}

func (c *lineChannel) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.wc.Close()
}
