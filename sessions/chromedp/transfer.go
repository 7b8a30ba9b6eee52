package chromedp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/sessions"
	"github.com/wad-project/wad/sessions/media"
)

// File bytes cross between wad and the page in pieces of chunkSize
// bytes, 1 MiB as base64, one CDP message each: neither side's message
// limit is approached, and wad never holds more of a file than a piece
// (the page keeps the pieces in a Blob, outside its JavaScript heap).
const chunkSize = 768 << 10

// upload moves f's bytes into a blob in the page, piece by piece from
// f.Reader(), and returns the blob's handle.
func (r *browserRun) upload(ctx context.Context, f *media.File) (string, error) {
	const what = "take the file"
	h, err := evalIn[string](ctx, r, chunkTimeout, what, `window.__wad.blobNew()`)
	if err != nil {
		return "", err
	}
	ok := false
	defer func() {
		if !ok {
			r.dropBlob(h)
		}
	}()
	rd := f.Reader()
	buf := make([]byte, chunkSize)
	var sent int64
	for {
		n, rerr := io.ReadFull(rd, buf)
		if n > 0 {
			arg, _ := json.Marshal([]string{h, base64.StdEncoding.EncodeToString(buf[:n])})
			got, err := evalIn[int64](ctx, r, chunkTimeout, what, fmt.Sprintf(`(function(a){ return window.__wad.blobPut(a[0], a[1]); })(%s)`, arg))
			if err != nil {
				return "", err
			}
			sent += int64(n)
			if got != sent {
				return "", ctl.Errorf(ctl.CodeInternal, "the page holds %d bytes of the file after %d were sent", got, sent)
			}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			return "", ctl.Errorf(ctl.CodeInternal, "reading the file to send: %v", rerr)
		}
	}
	if sent != f.Size {
		return "", ctl.Errorf(ctl.CodeInternal, "the file to send has %d bytes, not the %d it was prepared with", sent, f.Size)
	}
	ok = true
	return h, nil
}

// dropBlob forgets a blob in the page; it is best effort and quick, and
// runs even when the operation's context has ended.
func (r *browserRun) dropBlob(h string) {
	if h == "" || r.isTorn() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	arg, _ := json.Marshal(h)
	if _, err := evalIn[bool](ctx, r, 5*time.Second, "drop a file", fmt.Sprintf(`window.__wad.blobDrop(%s)`, arg)); err != nil {
		r.log.Debug("dropping a blob in the page", "err", err)
	}
}

// pageDownload is the result of the agent's download: the decrypted
// bytes wait in a blob.
type pageDownload struct {
	Handle   string `json:"handle"`
	Size     int64  `json:"size"`
	Mime     string `json:"mime"`
	Filename string `json:"filename"`
	Type     string `json:"type"`
	Filehash string `json:"filehash"`
}

// download fetches and decrypts the media of a message in the page
// (whatsapp-web.js's downloadMedia path), then moves the bytes out piece
// by piece, checking their SHA-256 against the filehash the sender
// declared, into op.To or, up to op.MaxData bytes, the result's Data.
func (r *browserRun) download(ctx context.Context, op sessions.Download) (ctl.DownloadResult, error) {
	const what = "download the media"
	raw, err := r.call(ctx, sendTimeout, what, "download", toWebJID(op.Chat), op.ID)
	if err != nil {
		return ctl.DownloadResult{}, err
	}
	var p pageDownload
	if err := json.Unmarshal(raw, &p); err != nil || p.Handle == "" {
		return ctl.DownloadResult{}, ctl.Errorf(ctl.CodeInternal, "the agent's download returned %s: %v", raw, err)
	}
	defer r.dropBlob(p.Handle)
	want, err := base64.StdEncoding.DecodeString(p.Filehash)
	if err != nil || len(want) != sha256.Size {
		return ctl.DownloadResult{}, ctl.Errorf(ctl.CodeUpstream, "the sender declared no usable SHA-256 for the media of message %s (filehash %q); it cannot be checked", op.ID, p.Filehash)
	}
	res := ctl.DownloadResult{Kind: mediaKind(p.Type), Mime: p.Mime, Filename: p.Filename, Size: p.Size}
	w := op.To
	var data *bytes.Buffer
	if w == nil {
		if op.MaxData > 0 && p.Size > op.MaxData {
			return ctl.DownloadResult{}, ctl.Errorf(ctl.CodeInvalidParams, "the media of message %s is %d bytes, more than the %d a reply can carry; pass a file descriptor (fd) to write it to", op.ID, p.Size, op.MaxData)
		}
		data = bytes.NewBuffer(make([]byte, 0, p.Size))
		w = data
	}
	hash := sha256.New()
	arg := func(off int64) string {
		a, _ := json.Marshal([]any{p.Handle, off, chunkSize})
		return string(a)
	}
	for off := int64(0); off < p.Size; {
		piece, err := evalIn[string](ctx, r, chunkTimeout, what, fmt.Sprintf(`(function(a){ return window.__wad.blobRead(a[0], a[1], a[2]); })(%s)`, arg(off)))
		if err != nil {
			return ctl.DownloadResult{}, err
		}
		b, err := base64.StdEncoding.DecodeString(piece)
		if err != nil || len(b) == 0 {
			return ctl.DownloadResult{}, ctl.Errorf(ctl.CodeInternal, "reading the download at %d of %d bytes: %d bytes (%v)", off, p.Size, len(b), err)
		}
		hash.Write(b)
		if _, err := w.Write(b); err != nil {
			return ctl.DownloadResult{}, ctl.Errorf(ctl.CodeInvalidParams, "writing the media of message %s: %v", op.ID, err)
		}
		off += int64(len(b))
	}
	sum := hash.Sum(nil)
	if !bytes.Equal(sum, want) {
		msg := fmt.Sprintf("the media of message %s does not match the SHA-256 its sender declared (got %x, want %x)", op.ID, sum, want)
		if op.To != nil {
			msg += "; the bytes written are not the file"
		}
		return ctl.DownloadResult{}, ctl.Errorf(ctl.CodeUpstream, "%s", msg)
	}
	res.SHA256 = hex.EncodeToString(sum)
	if data != nil {
		res.Data = data.Bytes()
	}
	return res, nil
}
