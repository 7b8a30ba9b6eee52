package daemon

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/creachadair/jrpc2/channel"

	"github.com/wad-project/wad/ctl"
)

// lineChannel is jrpc2's newline framing with what wad's wire contract
// (docs/wire.md) adds:
//
//   - A bound: a line longer than max bytes is read to its end without
//     being buffered beyond max, and answered with invalid request under
//     the request's id when the line starts with a readable one. When it
//     does not, the error carries id null and the connection is closed,
//     since the client could not tell which call failed.
//   - Blank lines are ignored, so people typing into socat can press Enter.
//   - Valid JSON that is no request is answered here (precheck).
//   - A request with "id": null is answered, with id null (see standIns).
//   - afterReply says when the reply to a request has been written, so a
//     subscription's events never overtake its subscribe reply.
//   - When the peer half-closes (`printf '...' | socat - UNIX-CONNECT:...`),
//     the end of input is held back until every request read so far has
//     been answered: jrpc2 drops queued requests when its channel reports
//     EOF, and a scripted client deserves its replies.
//
// Writes are serialised: jrpc2, the event feeds and the error paths all
// write.
type lineChannel struct {
	r   *bufio.Reader
	wc  io.WriteCloser
	max int // bytes in a line that carries media as data (message.send)
	// plainMax bounds every other line.
	plainMax int
	fr       *fdReader // nil unless the connection is a Unix socket
	off      int64     // bytes of the stream consumed by readLine
	files    requestFiles

	mu      sync.Mutex // serialises writes; guards the fields below
	pending int        // requests read that still owe a reply
	waits   map[string]chan struct{}
	nulls   standIns
	replied chan struct{}
	closed  chan struct{}
	once    sync.Once
}

// drainTimeout bounds how long a half-closed connection waits for its
// outstanding replies.
const drainTimeout = 5 * time.Minute

// errUnattributable ends a connection after a request too large to read
// whose id could not be read either.
var errUnattributable = errors.New("request too large, without a readable id at the start of the line")

var _ channel.Channel = (*lineChannel)(nil)

// newLineChannel frames the connection rw. Lines may be plainMax bytes,
// or mediaMax for the methods that carry media. A Unix socket connection
// also receives descriptors (SCM_RIGHTS) for the requests that pass them.
func newLineChannel(rw io.ReadWriteCloser, plainMax, mediaMax int) *lineChannel {
	c := &lineChannel{
		wc: rw, max: max(plainMax, mediaMax), plainMax: plainMax,
		replied: make(chan struct{}, 1), closed: make(chan struct{}),
	}
	var r io.Reader = rw
	if uc, ok := rw.(*net.UnixConn); ok {
		c.fr = newFDReader(uc)
		r = c.fr
	}
	c.r = bufio.NewReaderSize(r, 64<<10)
	return c
}

// afterReply returns a channel that is closed once the reply to the
// request with id (the raw JSON id, as jrpc2.Request.ID gives it) has been
// written, alone or within a batch reply, or its write failed. A
// notification (id "") gets no reply: its channel is closed already.
func (c *lineChannel) afterReply(id string) <-chan struct{} {
	ch := make(chan struct{})
	if id == "" {
		close(ch)
		return ch
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.waits == nil {
		c.waits = make(map[string]chan struct{})
	}
	c.waits[id] = ch
	return ch
}

func (c *lineChannel) Send(msg []byte) error {
	if bytes.IndexByte(msg, '\n') >= 0 {
		return fmt.Errorf("message contains a newline")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !isReply(msg) {
		return c.writeLocked(msg)
	}
	var ids []json.RawMessage
	if len(c.waits) > 0 || c.nulls.any() {
		ids = replyIDs(msg)
		msg = c.nulls.restore(msg, ids)
	}
	err := c.writeLocked(msg)
	if c.fr != nil && ids == nil {
		ids = replyIDs(msg)
	}
	for _, id := range ids {
		c.files.done(string(id))
		if ch := c.waits[string(id)]; ch != nil {
			close(ch)
			delete(c.waits, string(id))
		}
	}
	if c.pending > 0 {
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

// writeLocked writes msg and its newline. A write that fails (the peer is
// gone, or left it unread for writeTimeout) may have sent part of a line,
// so it closes the connection: the reader then ends and jrpc2 stops.
func (c *lineChannel) writeLocked(msg []byte) error {
	if dc, ok := c.wc.(interface{ SetWriteDeadline(time.Time) error }); ok {
		dc.SetWriteDeadline(time.Now().Add(writeTimeout))
	}
	_, err := c.wc.Write(append(msg, '\n'))
	if err != nil {
		c.Close()
	}
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

// end returns the read error err, after the replies still owed (see
// drain).
func (c *lineChannel) end(err error) error {
	c.drain()
	return err
}

func (c *lineChannel) Recv() ([]byte, error) {
	for {
		start := c.off
		line, tooLong, err := c.readLine()
		var files []*os.File
		var truncated bool
		if c.fr != nil {
			files, truncated = c.fr.take(start, c.off)
		}
		limit := c.max
		if !tooLong && len(line) > c.plainMax && !carriesMedia(line) {
			tooLong, limit, line = true, c.plainMax, line[:c.plainMax]
		}
		if tooLong || len(files) > 0 && requestID(line) == "" {
			// A descriptor needs a request to take it: one request
			// object with an id, read whole.
			closeFiles(files)
			files = nil
		}
		if tooLong {
			if werr := c.tooLarge(line, limit); werr != nil {
				return nil, werr
			}
			if err != nil {
				return nil, c.end(err)
			}
			continue
		}
		if len(bytes.TrimSpace(line)) == 0 {
			if err != nil {
				return nil, c.end(err)
			}
			continue
		}
		if rep := precheck(line); rep != nil {
			// Valid JSON that is no request: answer here, since jrpc2
			// would call it a parse error.
			closeFiles(files)
			if serr := c.write(rep); serr != nil {
				return nil, serr
			}
			if err != nil {
				return nil, c.end(err)
			}
			continue
		}
		reply, nullID := classify(line)
		c.mu.Lock()
		if nullID {
			line = c.nulls.assign(line)
		}
		if len(files) > 0 {
			c.files.put(requestID(line), files, truncated)
		}
		if reply {
			c.pending++
		}
		c.mu.Unlock()
		if err == io.EOF {
			// Hand over the last line now; report EOF on the next call,
			// after its reply.
			err = nil
		}
		return line, err
	}
}

// tooLarge answers a line over the bound, given its first max bytes: an
// invalid-request error under the id the line starts with. Without a
// readable id the error carries id null, and tooLarge returns
// errUnattributable so that the connection closes. It returns the write's
// error if the reply cannot be written.
func (c *lineChannel) tooLarge(prefix []byte, limit int) error {
	msg := fmt.Sprintf("request too large: the limit is %d bytes per line", limit)
	if limit < c.max {
		msg += fmt.Sprintf(" (%d for %s with media)", c.max, ctl.MethodSend)
	}
	id, ok := leadingID(prefix)
	if !ok {
		id = json.RawMessage("null")
		msg += "; its id was not at the start of the line, so wad closes the connection"
	}
	if err := c.write(errorReply(id, ctl.CodeInvalidRequest, msg)); err != nil {
		return err
	}
	if !ok {
		return errUnattributable
	}
	return nil
}

// leadingID returns the id of the request object that prefix starts
// with, if prefix holds the whole id member and only complete members
// before it: `{"jsonrpc":"2.0","id":7,"method":...`. The id must be a
// string, a number or null.
func leadingID(prefix []byte) (json.RawMessage, bool) {
	dec := json.NewDecoder(bytes.NewReader(prefix))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false
	}
	for {
		t, err := dec.Token()
		key, isKey := t.(string)
		if err != nil || !isKey {
			return nil, false
		}
		var v json.RawMessage
		if dec.Decode(&v) != nil {
			return nil, false
		}
		if key != "id" {
			continue
		}
		// The value ended before the cut only if something follows it.
		if _, err := dec.Token(); err != nil {
			return nil, false
		}
		switch {
		case isNull(v), v[0] == '"', v[0] == '-', v[0] >= '0' && v[0] <= '9':
			return v, true
		}
		return nil, false
	}
}

// errorReply is a JSON-RPC error response.
func errorReply(id json.RawMessage, code int, msg string) []byte {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id,
		"error": map[string]any{"code": code, "message": msg}})
	return b
}

// classify reports whether an inbound line will be answered (a request
// with an id, null included; a batch holding one; anything jrpc2 will
// call an error) and whether it holds a request with "id": null.
func classify(line []byte) (needsReply, nullID bool) {
	line = bytes.TrimSpace(line)
	var one struct {
		ID json.RawMessage `json:"id"`
	}
	if len(line) > 0 && line[0] == '[' {
		var batch []json.RawMessage
		if json.Unmarshal(line, &batch) != nil || len(batch) == 0 {
			return true, false
		}
		for _, m := range batch {
			one.ID = nil
			if json.Unmarshal(m, &one) != nil {
				needsReply = true
				continue
			}
			if one.ID != nil {
				needsReply = true
				nullID = nullID || isNull(one.ID)
			}
		}
		return needsReply, nullID
	}
	if json.Unmarshal(line, &one) != nil {
		return true, false
	}
	return one.ID != nil, isNull(one.ID)
}

// precheck returns an invalid-request reply for a line that is valid JSON
// but not a request: not an object or array, or an object whose method is
// not a string. It returns nil for everything jrpc2 should see.
func precheck(line []byte) []byte {
	line = bytes.TrimSpace(line)
	if !json.Valid(line) {
		return nil // jrpc2 replies with a parse error
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
			return errorReply(nil, ctl.CodeInvalidRequest, "invalid request object")
		}
		if len(m.Method) > 0 && m.Method[0] != '"' {
			return errorReply(m.ID, ctl.CodeInvalidRequest, "invalid request: method must be a string")
		}
		return nil
	}
	return errorReply(nil, ctl.CodeInvalidRequest, "invalid request: want a JSON-RPC request object or batch")
}

// jrpc2 writes a notification as {"jsonrpc":"2.0","method":...} and a
// response as {"jsonrpc":"2.0","id":...}; wad pushes notifications only.
var (
	notificationPrefix = []byte(`{"jsonrpc":"2.0","method":`)
	responsePrefix     = []byte(`{"jsonrpc":"2.0","id":`)
)

// isReply reports whether an outbound message is a response (or batch of
// responses) rather than a server push.
func isReply(msg []byte) bool {
	switch {
	case bytes.HasPrefix(msg, notificationPrefix):
		return false
	case bytes.HasPrefix(msg, responsePrefix), len(msg) > 0 && msg[0] == '[':
		return true
	}
	var m struct {
		Method *json.RawMessage `json:"method"`
	}
	return json.Unmarshal(msg, &m) == nil && m.Method == nil
}

// replyIDs returns the ids of an outbound response or batch of responses.
func replyIDs(msg []byte) []json.RawMessage {
	type reply struct {
		ID json.RawMessage `json:"id"`
	}
	var rs []reply
	if len(msg) > 0 && msg[0] == '[' {
		if json.Unmarshal(msg, &rs) != nil {
			return nil
		}
	} else {
		rs = make([]reply, 1)
		if json.Unmarshal(msg, &rs[0]) != nil {
			return nil
		}
	}
	ids := make([]json.RawMessage, 0, len(rs))
	for _, r := range rs {
		if r.ID != nil {
			ids = append(ids, r.ID)
		}
	}
	return ids
}

// readLine returns the next line without its newline; or, for a line over
// the bound, its first max bytes and tooLong, having read and discarded
// the rest.
func (c *lineChannel) readLine() (line []byte, tooLong bool, err error) {
	var buf []byte
	for {
		chunk, err := c.r.ReadSlice('\n')
		c.off += int64(len(chunk))
		if !tooLong {
			if len(buf)+len(chunk) > c.max+1 {
				tooLong = true
				if n := c.max - len(buf); n > 0 {
					buf = append(buf, chunk[:min(n, len(chunk))]...)
				}
				buf = buf[:min(len(buf), c.max)]
			} else {
				buf = append(buf, chunk...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if tooLong {
			return buf, true, err
		}
		return bytes.TrimSuffix(buf, []byte("\n")), false, err
	}
}

// carriesMedia reports whether line is a message.send with media as
// base64 data, which may use the larger line limit.
func carriesMedia(line []byte) bool {
	var m struct {
		Method string `json:"method"`
		Params struct {
			Media *struct {
				Data json.RawMessage `json:"data"`
			} `json:"media"`
		} `json:"params"`
	}
	return json.Unmarshal(line, &m) == nil && m.Method == ctl.MethodSend && m.Params.Media != nil && len(m.Params.Media.Data) > 2
}

func (c *lineChannel) Close() error {
	c.once.Do(func() { close(c.closed) })
	err := c.wc.Close()
	// The reader has stopped or will fail now; what it collected has no
	// taker any more.
	c.files.closeAll()
	if c.fr != nil {
		c.fr.close()
	}
	return err
}
