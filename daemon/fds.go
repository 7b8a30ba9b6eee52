package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/creachadair/jrpc2"
	"golang.org/x/sys/unix"

	"github.com/wad-project/wad/ctl"
)

// maxFDsPerLine bounds the descriptors one request line may carry.
const maxFDsPerLine = 8

// fdReader reads a Unix socket connection and collects the descriptors
// that arrive with its bytes (SCM_RIGHTS). The kernel ends a read at the
// end of the segment that carried descriptors, so the last byte of that
// read belongs to the sendmsg that passed them: the descriptors go to the
// line holding that byte (see lineChannel.Recv). A client therefore
// writes a request line and its descriptors in one sendmsg
// (docs/wire.md, "Passing files").
type fdReader struct {
	uc  *net.UnixConn
	oob []byte

	mu      sync.Mutex
	off     int64 // bytes read so far
	arrived []fdBatch
}

// fdBatch is the descriptors of one read; last is the stream offset of
// that read's last byte. truncated marks a read whose descriptors did not
// all fit (the kernel closed the rest).
type fdBatch struct {
	last      int64
	files     []*os.File
	truncated bool
}

func newFDReader(uc *net.UnixConn) *fdReader {
	return &fdReader{uc: uc, oob: make([]byte, syscall.CmsgSpace(maxFDsPerLine*4))}
}

func (r *fdReader) Read(p []byte) (int, error) {
	n, oobn, flags, _, err := r.uc.ReadMsgUnix(p, r.oob)
	n, oobn = max(n, 0), max(oobn, 0)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.off += int64(n)
	if oobn > 0 {
		b := fdBatch{last: r.off - 1, files: parseRights(r.oob[:oobn]), truncated: flags&syscall.MSG_CTRUNC != 0}
		if n == 0 {
			b.last = r.off // descriptors with no byte: the next line takes them
		}
		r.arrived = append(r.arrived, b)
	}
	return n, err
}

// parseRights returns the descriptors in control messages, as files
// (Go's ReadMsgUnix receives them close-on-exec).
func parseRights(oob []byte) []*os.File {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var files []*os.File
	for _, m := range msgs {
		fds, err := syscall.ParseUnixRights(&m)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			// Non-blocking, so that a pipe the peer never feeds (or never
			// drains) fails at its deadline instead of holding a request
			// for ever. The flag is on the open file description the
			// peer passed: its other holders see it too, which for the
			// end of a pipe or a socket that it handed over is harmless.
			syscall.SetNonblock(fd, true)
			files = append(files, os.NewFile(uintptr(fd), fmt.Sprintf("fd %d", len(files))))
		}
	}
	return files
}

// take returns the descriptors that arrived with the bytes [start, end)
// of the stream, and closes any that arrived before start (with a line
// that was not a request). It reports truncated when some were lost.
func (r *fdReader) take(start, end int64) (files []*os.File, truncated bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := 0
	for ; i < len(r.arrived) && r.arrived[i].last < end; i++ {
		b := r.arrived[i]
		if b.last < start {
			closeFiles(b.files)
			continue
		}
		files = append(files, b.files...)
		truncated = truncated || b.truncated
	}
	r.arrived = r.arrived[i:]
	return files, truncated
}

// close closes every descriptor not handed to a request.
func (r *fdReader) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.arrived {
		closeFiles(b.files)
	}
	r.arrived = nil
}

func closeFiles(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// requestFiles holds the descriptors passed with a request until its
// method takes them; whatever is left is closed once the reply is written.
type requestFiles struct {
	mu    sync.Mutex
	byID  map[string][]*os.File
	trunc map[string]bool
}

func (rf *requestFiles) put(id string, files []*os.File, truncated bool) {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	if rf.byID == nil {
		rf.byID = make(map[string][]*os.File)
		rf.trunc = make(map[string]bool)
	}
	if old := rf.byID[id]; old != nil {
		// A duplicate id: jrpc2 refuses the second request, so its
		// descriptors have no taker.
		closeFiles(files)
		return
	}
	rf.byID[id] = files
	rf.trunc[id] = truncated
}

func (rf *requestFiles) take(id string) ([]*os.File, bool) {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	f, t := rf.byID[id], rf.trunc[id]
	delete(rf.byID, id)
	delete(rf.trunc, id)
	return f, t
}

// done closes what the request with id left untaken.
func (rf *requestFiles) done(id string) {
	f, _ := rf.take(id)
	closeFiles(f)
}

func (rf *requestFiles) closeAll() {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	for _, f := range rf.byID {
		closeFiles(f)
	}
	rf.byID, rf.trunc = nil, nil
}

// passed is the descriptors a request carried, for its method to use by
// index. Close closes them all; a method defers it.
type passed struct {
	files     []*os.File
	truncated bool
}

// takeFiles returns the descriptors passed with the request being served.
func takeFiles(ctx context.Context) *passed {
	cs := connFrom(ctx)
	req := jrpc2.InboundRequest(ctx)
	if cs == nil || req == nil || req.IsNotification() {
		return &passed{}
	}
	files, trunc := cs.lines.files.take(req.ID())
	return &passed{files: files, truncated: trunc}
}

// fdTimeout bounds reading or writing a passed descriptor that is not a
// regular file (a pipe, a socket): a peer that stops feeding or draining
// it fails its own request after this long.
const fdTimeout = 5 * time.Minute

// get returns descriptor i, with fdTimeout as its deadline, or an
// invalid-params error that says what was passed.
func (p *passed) get(i int, what string) (*os.File, error) {
	if p.truncated {
		return nil, ctl.Errorf(ctl.CodeInvalidParams, "too many descriptors passed with one request (at most %d)", maxFDsPerLine)
	}
	if i < 0 || i >= len(p.files) {
		if len(p.files) == 0 {
			return nil, ctl.Errorf(ctl.CodeInvalidParams, "%s: fd %d was not passed: send the descriptor with the request line (SCM_RIGHTS, one sendmsg with the whole line)", what, i)
		}
		return nil, ctl.Errorf(ctl.CodeInvalidParams, "%s: fd %d was not passed (%d passed with this request, numbered from 0)", what, i, len(p.files))
	}
	f := p.files[i]
	f.SetDeadline(time.Now().Add(fdTimeout)) // fails harmlessly on a regular file
	return f, nil
}

// Close closes every descriptor.
func (p *passed) Close() {
	closeFiles(p.files)
	p.files = nil
}

// requestID returns the id of a line holding one request object, as
// jrpc2 will report it (raw JSON), or "" for a batch, a notification or
// anything unreadable.
func requestID(line []byte) string {
	var m struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(line, &m) != nil || m.ID == nil || isNull(m.ID) {
		return ""
	}
	return string(m.ID)
}

// fcntlFlags returns f's file status flags (F_GETFL).
func fcntlFlags(f *os.File) (int, error) {
	sc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var fl int
	var ferr error
	if err := sc.Control(func(fd uintptr) { fl, ferr = unix.FcntlInt(fd, unix.F_GETFL, 0) }); err != nil {
		return 0, err
	}
	return fl, ferr
}
