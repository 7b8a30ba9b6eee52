package media

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/wad-project/wad/ctl"
)

// Input is a file to prepare: its kind (ctl.Media*), what the client
// said of it, and its bytes.
type Input struct {
	Kind, Mime, Filename, Caption string
	// R reads the Size bytes of the file, from offset 0.
	R    io.ReaderAt
	Size int64
	// Closer, if not nil, releases R (a spool file). The File Prepare
	// returns owns it; when Prepare fails it is still the caller's.
	Closer io.Closer
}

// Preparer prepares media files. Its zero value is ready to use; it is
// safe for concurrent use, and must not be copied after its first use.
type Preparer struct {
	// TempDir is where spool files are made; "" is os.TempDir().
	TempDir string
	// Log gets what is worth knowing about thumbnails not made; nil is
	// slog.Default().
	Log *slog.Logger
	// FFmpeg is the ffmpeg that makes video thumbnails, a path or a
	// name looked up in $PATH, once; "" is "ffmpeg". Without one,
	// videos are sent without a thumbnail.
	FFmpeg string

	ffmpegOnce   sync.Once
	ffmpegPath   string
	ffmpegFailed atomic.Bool
}

func (p *Preparer) log() *slog.Logger {
	if p.Log == nil {
		return slog.Default()
	}
	return p.Log
}

// Prepare checks a file before it is sent and measures it. The file
// must be of a known kind, not empty, within the kind's size limit
// (MaxSize), and its content must agree with its kind and with the mime
// the client gave, if any: a voice note is Ogg/Opus, a sticker WebP, an
// image a JPEG, PNG, GIF or WebP image that decodes, a video video and
// an audio file audio, and a given mime must name the detected format.
// A document may be anything. A file that does not is an invalid-params
// error that says why.
//
// Without a given mime, the file's is detected: for a document whose
// content says little (plain text, a ZIP file, unknown bytes), from the
// filename's extension. Images, stickers and voice notes get their
// format's canonical mime whatever was given; voice notes VoiceMime.
//
// The File has the SHA-256 of the bytes and what could be measured: the
// dimensions of images, stickers and MP4 videos, the duration of Ogg/Opus
// and MP4 audio and video, a thumbnail of images and (with ffmpeg) of
// videos, and whether a sticker is animated.
func (p *Preparer) Prepare(ctx context.Context, in Input) (*File, error) {
	limit, err := checkKind(in.Kind)
	if err != nil {
		return nil, err
	}
	switch {
	case in.Size <= 0:
		return nil, invalid("the %s is empty", in.Kind)
	case in.Size > limit:
		return nil, tooLarge(in.Kind, fmt.Sprintf("%d bytes", in.Size))
	}
	given, err := parseMime(in.Kind, in.Mime)
	if err != nil {
		return nil, err
	}
	head := make([]byte, min(in.Size, sniffLen))
	if err := readAt(in.R, head, 0); err != nil {
		return nil, fmt.Errorf("reading the %s: %w", in.Kind, err)
	}
	f := &File{Kind: in.Kind, Filename: in.Filename, Caption: in.Caption, Size: in.Size, r: in.R, closer: in.Closer}
	if err := p.inspect(ctx, f, given, head); err != nil {
		return nil, err
	}
	if f.SHA256, err = hash(ctx, f.Reader()); err != nil {
		return nil, err
	}
	return f, nil
}

// inspect checks f's content, whose start is head, against its kind and
// the given mime, and fills in its mime and what can be measured.
func (p *Preparer) inspect(ctx context.Context, f *File, given declared, head []byte) error {
	detected := detect(head)
	switch f.Kind {
	case ctl.MediaImage:
		return prepareImage(f, given, detected)
	case ctl.MediaSticker:
		return prepareSticker(f, given, detected, head)
	case ctl.MediaVoice:
		return prepareVoice(f, given, detected, head)
	case ctl.MediaAudio:
		return prepareAudio(f, given, detected, head)
	case ctl.MediaVideo:
		return p.prepareVideo(ctx, f, given, detected)
	}
	f.Mime = documentMime(given, detected, f.Filename)
	return nil
}

// prepareVideo checks that f is a video, reads an MP4's dimensions and
// duration, and has ffmpeg make its thumbnail.
func (p *Preparer) prepareVideo(ctx context.Context, f *File, given declared, detected string) error {
	var err error
	if f.Mime, err = avMime(f.Kind, given, detected); err != nil {
		return err
	}
	if format(detected) == "video/mp4" {
		info := readMP4(f.r, f.Size)
		f.Width, f.Height, f.Seconds = info.width, info.height, info.seconds
	}
	f.Thumbnail = p.videoThumbnail(ctx, f.r, f.Size)
	return nil
}

// prepareAudio checks that f is audio and measures it.
func prepareAudio(f *File, given declared, detected string, head []byte) error {
	var err error
	if f.Mime, err = avMime(f.Kind, given, detected); err != nil {
		return err
	}
	f.Seconds = avSeconds(f, detected, head)
	return nil
}

// prepareSticker checks that f is a WebP image and reads its size and
// animation flag.
func prepareSticker(f *File, given declared, detected string, head []byte) error {
	if detected != "image/webp" {
		return invalid("a sticker must be a WebP image: its content is %s", detected)
	}
	if err := given.check(detected); err != nil {
		return err
	}
	info, err := parseWebP(head)
	if err != nil {
		return invalid("the sticker is not a valid WebP image: %v", err)
	}
	f.Mime, f.Width, f.Height, f.Animated = detected, info.width, info.height, info.animated
	return nil
}

// prepareVoice checks that f is Ogg/Opus and measures it.
func prepareVoice(f *File, given declared, detected string, head []byte) error {
	switch {
	case detected == VoiceMime:
	case format(detected) == "audio/ogg":
		return invalid("a voice note must be Ogg/Opus: this Ogg file's first page holds no Opus header (OpusHead)")
	default:
		return invalid("a voice note must be Ogg/Opus: its content is %s", detected)
	}
	if err := given.check(detected); err != nil {
		return err
	}
	f.Mime, f.Seconds = VoiceMime, avSeconds(f, detected, head)
	return nil
}

// avSeconds returns the duration of an audio file or voice note, when
// its format tells it simply: Ogg/Opus and MP4; else 0.
func avSeconds(f *File, detected string, head []byte) float64 {
	switch {
	case detected == VoiceMime:
		s, _ := opusHead(head)
		return opusSeconds(f.r, f.Size, s)
	case format(detected) == "video/mp4":
		return readMP4(f.r, f.Size).seconds
	}
	return 0
}

// hash returns the SHA-256 of what r reads, in one pass.
func hash(ctx context.Context, r io.Reader) ([]byte, error) {
	h := sha256.New()
	buf := make([]byte, copyBufSize)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n, err := r.Read(buf)
		h.Write(buf[:n])
		switch {
		case err == io.EOF:
			return h.Sum(nil), nil
		case err != nil:
			return nil, err
		}
	}
}

// readAt fills buf from offset off of r; reaching the end exactly as buf
// fills is no error.
func readAt(r io.ReaderAt, buf []byte, off int64) error {
	n, err := r.ReadAt(buf, off)
	if n == len(buf) {
		return nil
	}
	return err
}
