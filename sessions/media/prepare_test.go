package media

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/jpeg"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/internal/syncbuf"
)

// quiet is a Preparer for tests, logging nowhere.
func quiet() *Preparer { return &Preparer{Log: slog.New(slog.DiscardHandler)} }

// prepare prepares data as a file of kind and given mime.
func prepare(t *testing.T, p *Preparer, kind, mime, filename string, data []byte) (*File, error) {
	t.Helper()
	return p.Prepare(context.Background(), Input{
		Kind: kind, Mime: mime, Filename: filename, Caption: "a caption",
		R: bytes.NewReader(data), Size: int64(len(data)),
	})
}

// thumbSize decodes a thumbnail, failing unless it is a JPEG.
func thumbSize(t *testing.T, thumb []byte) image.Point {
	t.Helper()
	img, err := jpeg.Decode(bytes.NewReader(thumb))
	if err != nil {
		t.Fatalf("thumbnail is no JPEG: %v", err)
	}
	return img.Bounds().Size()
}

func TestPrepareAccepts(t *testing.T) {
	requireFFmpeg(t)
	tests := []struct {
		name, kind, mime, filename string
		data                       []byte
		wantMime                   string
		w, h                       int
		seconds                    float64
		thumb                      image.Point // zero: none
		animated                   bool
	}{
		{name: "png", kind: ctl.MediaImage, data: encodePNG(t, gradient(640, 480, false)),
			wantMime: "image/png", w: 640, h: 480, thumb: image.Pt(72, 54)},
		{name: "jpeg portrait", kind: ctl.MediaImage, mime: "image/jpeg", data: encodeJPEG(t, gradient(100, 300, false)),
			wantMime: "image/jpeg", w: 100, h: 300, thumb: image.Pt(24, 72)},
		{name: "jpeg given as image/jpg", kind: ctl.MediaImage, mime: "image/jpg", data: encodeJPEG(t, gradient(10, 10, false)),
			wantMime: "image/jpeg", w: 10, h: 10, thumb: image.Pt(10, 10)},
		{name: "small gif kept small", kind: ctl.MediaImage, data: encodeGIF(t, gradient(50, 40, false)),
			wantMime: "image/gif", w: 50, h: 40, thumb: image.Pt(50, 40)},
		{name: "webp image", kind: ctl.MediaImage, data: fixture(t, "image.webp"),
			wantMime: "image/webp", w: 200, h: 100, thumb: image.Pt(72, 36)},
		{name: "mp4 video", kind: ctl.MediaVideo, data: fixture(t, "video.mp4"),
			wantMime: "video/mp4", w: 320, h: 240, seconds: 1, thumb: image.Pt(72, 54)},
		{name: "portrait video", kind: ctl.MediaVideo, mime: "video/mp4", data: fixture(t, "portrait.mp4"),
			wantMime: "video/mp4", w: 240, h: 320, seconds: 1, thumb: image.Pt(54, 72)},
		{name: "mp4 with its index last", kind: ctl.MediaVideo, data: fixture(t, "moovlast.mp4"),
			wantMime: "video/mp4", w: 640, h: 360, seconds: 2, thumb: image.Pt(72, 41)},
		{name: "3gp video", kind: ctl.MediaVideo, mime: "video/3gpp", data: fixture(t, "video.3gp"),
			wantMime: "video/3gpp", w: 320, h: 240, seconds: 1, thumb: image.Pt(72, 54)},
		{name: "m4a", kind: ctl.MediaAudio, data: fixture(t, "audio.m4a"),
			wantMime: "audio/mp4", seconds: 2},
		{name: "m4a given as audio/aac", kind: ctl.MediaAudio, mime: "audio/aac", data: fixture(t, "audio.m4a"),
			wantMime: "audio/aac", seconds: 2},
		{name: "mp3", kind: ctl.MediaAudio, data: fixture(t, "audio.mp3"), wantMime: "audio/mpeg"},
		{name: "mp3 without a tag", kind: ctl.MediaAudio, mime: "audio/mp3", data: fixture(t, "raw.mp3"), wantMime: "audio/mp3"},
		{name: "ogg/opus audio", kind: ctl.MediaAudio, data: fixture(t, "voice.ogg"),
			wantMime: VoiceMime, seconds: 1},
		{name: "voice", kind: ctl.MediaVoice, mime: "audio/ogg", data: fixture(t, "voice.ogg"),
			wantMime: VoiceMime, seconds: 1},
		{name: "lossy sticker", kind: ctl.MediaSticker, data: fixture(t, "lossy.webp"),
			wantMime: "image/webp", w: 512, h: 512},
		{name: "lossless sticker", kind: ctl.MediaSticker, mime: "image/webp", data: fixture(t, "lossless.webp"),
			wantMime: "image/webp", w: 512, h: 256},
		{name: "sticker with alpha", kind: ctl.MediaSticker, data: fixture(t, "alpha.webp"),
			wantMime: "image/webp", w: 256, h: 512},
		{name: "animated sticker", kind: ctl.MediaSticker, data: fixture(t, "animated.webp"),
			wantMime: "image/webp", w: 512, h: 512, animated: true},
		{name: "pdf", kind: ctl.MediaDocument, filename: "x.bin", data: []byte("%PDF-1.7\n1 0 obj\n"),
			wantMime: "application/pdf"},
		{name: "text named .json", kind: ctl.MediaDocument, filename: "data.json", data: []byte(`{"a": 1}`),
			wantMime: "application/json"},
		{name: "given mime kept", kind: ctl.MediaDocument, mime: "Text/CSV; Charset=UTF-8", filename: "a.csv", data: []byte("a,b\n1,2\n"),
			wantMime: "text/csv; charset=UTF-8"},
		{name: "unknown bytes", kind: ctl.MediaDocument, data: []byte{0, 1, 2, 3, 0xfe},
			wantMime: "application/octet-stream"},
		{name: "any document", kind: ctl.MediaDocument, filename: "photo.png", data: encodePNG(t, gradient(4, 4, false)),
			wantMime: "image/png"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := prepare(t, quiet(), tt.kind, tt.mime, tt.filename, tt.data)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			sum := sha256.Sum256(tt.data)
			if f.Kind != tt.kind || f.Filename != tt.filename || f.Caption != "a caption" ||
				f.Size != int64(len(tt.data)) || !bytes.Equal(f.SHA256, sum[:]) {
				t.Errorf("kind %q filename %q caption %q size %d sha256 %x: not what was given", f.Kind, f.Filename, f.Caption, f.Size, f.SHA256)
			}
			if f.Mime != tt.wantMime {
				t.Errorf("Mime = %q, want %q", f.Mime, tt.wantMime)
			}
			if f.Width != tt.w || f.Height != tt.h {
				t.Errorf("size %dx%d, want %dx%d", f.Width, f.Height, tt.w, tt.h)
			}
			if math.Abs(f.Seconds-tt.seconds) > 0.1 {
				t.Errorf("Seconds = %v, want about %v", f.Seconds, tt.seconds)
			}
			if f.Animated != tt.animated {
				t.Errorf("Animated = %v", f.Animated)
			}
			switch {
			case tt.thumb == image.Point{} && f.Thumbnail != nil:
				t.Errorf("a thumbnail of %d bytes, want none", len(f.Thumbnail))
			case tt.thumb != image.Point{} && f.Thumbnail == nil:
				t.Errorf("no thumbnail")
			case tt.thumb != image.Point{}:
				if got := thumbSize(t, f.Thumbnail); got != tt.thumb {
					t.Errorf("thumbnail %v, want %v", got, tt.thumb)
				}
			}
			for range 2 { // independent readers of all the bytes
				b, err := io.ReadAll(f.Reader())
				if err != nil || !bytes.Equal(b, tt.data) {
					t.Fatalf("Reader read %d bytes (%v), want the %d given", len(b), err, len(tt.data))
				}
			}
		})
	}
}

// zeros reads as endless zero bytes.
type zeros struct{}

func (zeros) ReadAt(p []byte, _ int64) (int, error) {
	clear(p)
	return len(p), nil
}

// pngHeader is the start of a PNG file of w×h pixels: the signature and
// the IHDR chunk, all that DecodeConfig reads.
func pngHeader(w, h uint32) []byte {
	ihdr := []byte("IHDR\x00\x00\x00\x00\x00\x00\x00\x00\x08\x06\x00\x00\x00")
	binary.BigEndian.PutUint32(ihdr[4:], w)
	binary.BigEndian.PutUint32(ihdr[8:], h)
	b := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0d")
	b = append(b, ihdr...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(ihdr))
}

func TestPrepareRefuses(t *testing.T) {
	requireFFmpeg(t)
	pdf := []byte("%PDF-1.7\n1 0 obj\n")
	jpg := encodeJPEG(t, gradient(20, 20, false))
	pngData := encodePNG(t, gradient(20, 20, false))
	tests := []struct {
		name, kind, mime string
		data             []byte
		want             []string
	}{
		{"unknown kind", "gif", "", pngData,
			[]string{`unknown media kind "gif": want one of image, video, audio, voice, document, sticker`}},
		{"empty", ctl.MediaImage, "", nil, []string{"the image is empty"}},
		{"invalid mime", ctl.MediaImage, "jpeg", jpg, []string{`invalid mime "jpeg"`}},
		{"mime of another kind", ctl.MediaImage, "video/mp4", jpg,
			[]string{"mime video/mp4 does not fit kind image: want image/*"}},
		{"voice given as video", ctl.MediaVoice, "video/ogg", fixture(t, "voice.ogg"),
			[]string{"mime video/ogg does not fit kind voice: want audio/*"}},
		{"image that is a pdf", ctl.MediaImage, "", pdf,
			[]string{"the image is not a JPEG, PNG, GIF or WebP image: its content is application/pdf"}},
		{"image that is a HEIC", ctl.MediaImage, "image/heic", []byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"),
			[]string{"its content is image/heic"}},
		{"png given as jpeg", ctl.MediaImage, "image/jpeg", pngData,
			[]string{"mime image/jpeg does not match the content, which is image/png"}},
		{"truncated png", ctl.MediaImage, "", pngData[:len(pngData)/2], []string{"the image cannot be decoded"}},
		{"decompression bomb", ctl.MediaImage, "", pngHeader(10000, 10000),
			[]string{"the image is 10000x10000, 100.0 megapixels: over the limit of 50 megapixels"}},
		{"animated webp as image", ctl.MediaImage, "", fixture(t, "animated.webp"), []string{"the image cannot be decoded"}},
		{"video that is an image", ctl.MediaVideo, "", pngData,
			[]string{"the content of this video is image/png, not a video"}},
		{"video that is text", ctl.MediaVideo, "video/mp4", []byte("hello, world\n"),
			[]string{"the content of this video is text/plain; charset=utf-8, not a video"}},
		{"video of unknown content", ctl.MediaVideo, "", []byte{0, 1, 2, 3},
			[]string{"cannot tell the format of this video from its content: give its mime"}},
		{"mp4 given as webm", ctl.MediaVideo, "video/webm", fixture(t, "video.mp4"),
			[]string{"mime video/webm does not match the content, which is video/mp4"}},
		{"audio that is a pdf", ctl.MediaAudio, "", pdf,
			[]string{"the content of this audio is application/pdf, not audio"}},
		{"mp3 given as ogg", ctl.MediaAudio, "audio/ogg", fixture(t, "audio.mp3"),
			[]string{"mime audio/ogg does not match the content, which is audio/mpeg"}},
		{"voice that is mp3", ctl.MediaVoice, "", fixture(t, "audio.mp3"),
			[]string{"a voice note must be Ogg/Opus: its content is audio/mpeg"}},
		{"voice that is vorbis", ctl.MediaVoice, "audio/ogg", fixture(t, "vorbis.ogg"),
			[]string{"a voice note must be Ogg/Opus", "no Opus header (OpusHead)"}},
		{"voice with a broken page", ctl.MediaVoice, "", corruptCRC(fixture(t, "voice.ogg")),
			[]string{"no Opus header (OpusHead)"}},
		{"voice given as mp3", ctl.MediaVoice, "audio/mpeg", fixture(t, "voice.ogg"),
			[]string{"mime audio/mpeg does not match the content, which is audio/ogg; codecs=opus"}},
		{"sticker that is a png", ctl.MediaSticker, "", pngData,
			[]string{"a sticker must be a WebP image: its content is image/png"}},
		{"sticker given as png", ctl.MediaSticker, "image/png", fixture(t, "lossy.webp"),
			[]string{"mime image/png does not match the content, which is image/webp"}},
		{"truncated sticker", ctl.MediaSticker, "", []byte("RIFF\x10\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x02"),
			[]string{"the sticker is not a valid WebP image: truncated VP8X chunk"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := prepare(t, quiet(), tt.kind, tt.mime, "", tt.data)
			if err == nil {
				f.Close()
			}
			wantInvalid(t, err, tt.want...)
		})
	}
}

// corruptCRC returns an Ogg file whose first page's checksum is wrong.
func corruptCRC(ogg []byte) []byte {
	b := bytes.Clone(ogg)
	b[22] ^= 0xff
	return b
}

func TestPrepareRefusesOversize(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, kind := range ctl.MediaKinds {
		limit := MaxSize(kind)
		// zeros would be refused for its content: the size is checked
		// first, without reading a byte.
		_, err := quiet().Prepare(context.Background(), Input{Kind: kind, R: zeros{}, Size: limit + 1})
		wantInvalid(t, err, "the "+kind+" is too large: "+strconv.FormatInt(limit+1, 10)+" bytes, over WhatsApp's "+kind+" limit of "+humanSize(limit))
		// At the limit it is not too large (and then refused for its
		// content, or stopped by the canceled context before hashing).
		if _, err := quiet().Prepare(canceled, Input{Kind: kind, R: zeros{}, Size: limit}); err == nil || strings.Contains(err.Error(), "too large") {
			t.Errorf("a %s of the limit's size: %v", kind, err)
		}
	}
}

func TestPrepareClose(t *testing.T) {
	c := &countCloser{}
	data := encodePNG(t, gradient(8, 8, false))
	f, err := quiet().Prepare(context.Background(), Input{Kind: ctl.MediaImage, R: bytes.NewReader(data), Size: int64(len(data)), Closer: c})
	if err != nil {
		t.Fatal(err)
	}
	if c.n != 0 {
		t.Fatal("Prepare closed the input")
	}
	f.Close()
	if c.n != 1 {
		t.Fatalf("File.Close closed the input %d times, want once", c.n)
	}
	// When Prepare fails the closer stays the caller's.
	c = &countCloser{}
	if _, err := quiet().Prepare(context.Background(), Input{Kind: ctl.MediaSticker, R: bytes.NewReader(data), Size: int64(len(data)), Closer: c}); err == nil || c.n != 0 {
		t.Fatalf("err %v, closed %d times: want an error and the closer untouched", err, c.n)
	}
}

type countCloser struct{ n int }

func (c *countCloser) Close() error { c.n++; return nil }

func TestPrepareContextCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	data := []byte("%PDF-1.7\n")
	if _, err := quiet().Prepare(ctx, Input{Kind: ctl.MediaDocument, R: bytes.NewReader(data), Size: int64(len(data))}); err != context.Canceled {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestImageThumbnail(t *testing.T) {
	// Transparency is shown over white, as JPEG has none.
	f, err := prepare(t, quiet(), ctl.MediaImage, "", "", encodePNG(t, gradient(300, 150, true)))
	if err != nil {
		t.Fatal(err)
	}
	img, err := jpeg.Decode(bytes.NewReader(f.Thumbnail))
	if err != nil {
		t.Fatal(err)
	}
	if img.Bounds().Size() != image.Pt(72, 36) {
		t.Fatalf("thumbnail %v", img.Bounds().Size())
	}
	if r, g, b, _ := img.At(2, 18).RGBA(); r < 0xf000 || g < 0xf000 || b < 0xf000 {
		t.Errorf("transparent corner is %x %x %x, want white", r, g, b)
	}
	// A large image takes the coarse step first and still fits.
	f, err = prepare(t, quiet(), ctl.MediaImage, "", "", encodeJPEG(t, gradient(1200, 300, false)))
	if err != nil {
		t.Fatal(err)
	}
	if got := thumbSize(t, f.Thumbnail); got != image.Pt(72, 18) {
		t.Errorf("thumbnail %v, want 72x18", got)
	}
}

func TestFit(t *testing.T) {
	for _, tt := range []struct{ w, h, ww, wh int }{
		{640, 480, 72, 54},
		{480, 640, 54, 72},
		{72, 72, 72, 72},
		{10, 5, 10, 5},
		{10000, 1, 72, 1},
		{1, 10000, 1, 72},
		{73, 72, 72, 71},
	} {
		if w, h := fit(tt.w, tt.h, 72); w != tt.ww || h != tt.wh {
			t.Errorf("fit(%d, %d) = %d, %d, want %d, %d", tt.w, tt.h, w, h, tt.ww, tt.wh)
		}
	}
}

// preparerLogging returns a Preparer with ffmpeg at path, logging at
// Info to the returned lines.
func preparerLogging(ffmpeg string) (*Preparer, *syncbuf.Buffer) {
	lines := &syncbuf.Buffer{}
	return &Preparer{FFmpeg: ffmpeg, Log: slog.New(slog.NewTextHandler(lines, nil))}, lines
}

func TestVideoWithoutFFmpeg(t *testing.T) {
	video := fixture(t, "video.mp4")
	p, lines := preparerLogging(filepath.Join(t.TempDir(), "no-ffmpeg"))
	for range 3 {
		f, err := prepare(t, p, ctl.MediaVideo, "", "", video)
		if err != nil {
			t.Fatal(err)
		}
		if f.Thumbnail != nil || f.Width != 320 || f.Height != 240 {
			t.Errorf("thumbnail of %d bytes, %dx%d: want none, and the size from the file", len(f.Thumbnail), f.Width, f.Height)
		}
	}
	if n := strings.Count(lines.String(), "ffmpeg not found: videos are sent without a preview thumbnail"); n != 1 {
		t.Errorf("logged %d times that ffmpeg is missing, want once:\n%s", n, lines)
	}
}

func TestVideoFFmpegFails(t *testing.T) {
	video := fixture(t, "video.mp4")
	script := filepath.Join(t.TempDir(), "ffmpeg")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho broken >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	p, lines := preparerLogging(script)
	for range 3 {
		f, err := prepare(t, p, ctl.MediaVideo, "", "", video)
		if err != nil {
			t.Fatal(err)
		}
		if f.Thumbnail != nil {
			t.Error("a thumbnail from a failing ffmpeg")
		}
	}
	out := lines.String()
	if n := strings.Count(out, "level=INFO"); n != 1 || !strings.Contains(out, "broken") {
		t.Errorf("want one Info line with ffmpeg's error, got:\n%s", out)
	}
}

func TestVideoThumbnailsConcurrently(t *testing.T) {
	video := fixture(t, "video.mp4")
	p := quiet()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			f, err := prepare(t, p, ctl.MediaVideo, "", "", video)
			if err != nil {
				t.Error(err)
				return
			}
			if f.Thumbnail == nil {
				t.Error("no thumbnail")
			}
		})
	}
	wg.Wait()
}

// TestVideoFromFile: a video in a file (a peer's regular file, or a
// spool) goes to ffmpeg as that file, reopened, not copied.
func TestVideoFromFile(t *testing.T) {
	f, err := os.Open(fixturePath(t, "moovlast.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := quiet()
	r, size, closer, err := p.FromFD(f, ctl.MediaVideo)
	if err != nil || closer != nil {
		t.Fatalf("FromFD: %v, closer %v", err, closer)
	}
	g, err := p.seekable(r, size)
	if err != nil {
		t.Fatal(err)
	}
	gi, _ := g.Stat()
	fi, _ := f.Stat()
	g.Close()
	if !os.SameFile(fi, gi) {
		t.Error("ffmpeg's input is a copy, want the file itself")
	}
	m, err := p.Prepare(context.Background(), Input{Kind: ctl.MediaVideo, R: r, Size: size})
	if err != nil {
		t.Fatal(err)
	}
	if got := thumbSize(t, m.Thumbnail); got != image.Pt(72, 41) {
		t.Errorf("thumbnail %v", got)
	}
}

// TestOggDuration builds an Ogg/Opus stream by hand: the duration is the
// last page's granule position less the pre-skip, and a page of another
// stream or with no granule position does not count.
func TestOggDuration(t *testing.T) {
	head := []byte("OpusHead\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00") // pre-skip 312
	var ogg []byte
	ogg = append(ogg, oggTestPage(oggBOS, 0, 7, head)...)
	ogg = append(ogg, oggTestPage(0, 0, 7, []byte("OpusTags\x00\x00\x00\x00\x00\x00\x00\x00"))...)
	ogg = append(ogg, oggTestPage(0, 96312, 7, make([]byte, 300))...)
	ogg = append(ogg, oggTestPage(0, -1, 7, make([]byte, 100))...)
	ogg = append(ogg, oggTestPage(0, 999999, 8, make([]byte, 100))...)
	f, err := prepare(t, quiet(), ctl.MediaVoice, "", "", ogg)
	if err != nil {
		t.Fatal(err)
	}
	if f.Seconds != 2 {
		t.Errorf("Seconds = %v, want 2", f.Seconds)
	}
}

// oggTestPage is one Ogg page holding data.
func oggTestPage(flags byte, granule int64, serial uint32, data []byte) []byte {
	p := []byte("OggS\x00")
	p = append(p, flags)
	p = binary.LittleEndian.AppendUint64(p, uint64(granule))
	p = binary.LittleEndian.AppendUint32(p, serial)
	p = append(p, 0, 0, 0, 0, 0, 0, 0, 0) // sequence number, CRC
	var lacing []byte
	for n := len(data); ; n -= 255 {
		lacing = append(lacing, byte(min(n, 255)))
		if n < 255 {
			break
		}
	}
	p = append(p, byte(len(lacing)))
	p = append(append(p, lacing...), data...)
	binary.LittleEndian.PutUint32(p[22:], oggCRC(p))
	return p
}
