// Package media owns what a file is before a backend sends it: the media
// kinds and WhatsApp's size limit for each, the check that content, kind
// and mime agree (a voice note is Ogg/Opus, a sticker is WebP, an image
// is an image), the metadata WhatsApp shows (dimensions, duration,
// thumbnail), and the bytes themselves, read from a request's base64
// data or from a descriptor a peer passed, spooled to a private
// temporary file when the descriptor cannot be read twice. It never
// opens a path a peer names. Both backends send a File; the daemon makes
// one with Prepare before anything is uploaded, so bad input is refused
// with nothing sent.
package media

import (
	"fmt"
	"io"
	"mime"
	"strings"

	"github.com/wad-project/wad/ctl"
)

// File is a prepared media file: validated, measured, and readable any
// number of times. Close releases a spool file.
type File struct {
	Kind     string // ctl.Media*
	Mime     string // checked or detected; for voice "audio/ogg; codecs=opus"
	Filename string
	Caption  string
	Size     int64
	SHA256   []byte // of the bytes
	// Width and Height of images, videos and stickers, when known.
	Width, Height int
	// Seconds of audio, voice and video, when known.
	Seconds float64
	// Thumbnail is a small JPEG preview for images and videos (nil when
	// none could be made).
	Thumbnail []byte
	// Animated marks an animated sticker (WebP with animation).
	Animated bool

	r      io.ReaderAt
	closer io.Closer
}

// Reader returns a reader over the whole file from its start; each call
// gives an independent one.
func (f *File) Reader() *io.SectionReader { return io.NewSectionReader(f.r, 0, f.Size) }

// Close releases the spool file, if any. The File must not be read after.
func (f *File) Close() error {
	if f.closer == nil {
		return nil
	}
	return f.closer.Close()
}

// Size limits, in bytes, one per kind: what WhatsApp itself accepts, so
// that a file it would refuse is refused here before anything is
// uploaded.
const (
	// MaxImage is WhatsApp's limit for an image.
	MaxImage int64 = 16 << 20
	// MaxVideo is the limit for a video: 64 MiB, what WhatsApp Web and
	// Desktop accept for a video. They, like wad, send the file as it
	// is, where the phone apps first re-encode a larger one down to
	// about 16 MB. A larger video can be sent as a document.
	MaxVideo int64 = 64 << 20
	// MaxAudio is WhatsApp's limit for an audio file.
	MaxAudio int64 = 16 << 20
	// MaxVoice is WhatsApp's limit for a voice note.
	MaxVoice int64 = 16 << 20
	// MaxDocument is WhatsApp's limit for a document: 2 GiB.
	MaxDocument int64 = 2 << 30
	// MaxSticker is the limit for a sticker: 500 KiB, WhatsApp's limit
	// for an animated one. Its sticker guidelines ask 100 KB of a static
	// one; that is not enforced here, as WhatsApp delivers larger ones.
	MaxSticker int64 = 500 << 10
)

// MaxSize returns the size limit of a kind (ctl.Media*) in bytes, or 0
// for an unknown kind.
func MaxSize(kind string) int64 {
	switch kind {
	case ctl.MediaImage:
		return MaxImage
	case ctl.MediaVideo:
		return MaxVideo
	case ctl.MediaAudio:
		return MaxAudio
	case ctl.MediaVoice:
		return MaxVoice
	case ctl.MediaDocument:
		return MaxDocument
	case ctl.MediaSticker:
		return MaxSticker
	}
	return 0
}

// VoiceMime is the mime type of every voice note.
const VoiceMime = "audio/ogg; codecs=opus"

// KindOfMime returns the kind a file of that mime type is best shown as:
// image, video or audio by the major type, document for anything else
// (an invalid mime included). It cannot tell a voice note or a sticker:
// the message they came in says that.
func KindOfMime(m string) string {
	base, _, err := mime.ParseMediaType(m)
	if err != nil {
		return ctl.MediaDocument
	}
	switch major(base) {
	case "image":
		return ctl.MediaImage
	case "video":
		return ctl.MediaVideo
	case "audio":
		return ctl.MediaAudio
	}
	return ctl.MediaDocument
}

// invalid returns an invalid-params error.
func invalid(format string, args ...any) error {
	return ctl.Errorf(ctl.CodeInvalidParams, format, args...)
}

// checkKind returns the size limit of kind, or an invalid-params error
// listing the known kinds.
func checkKind(kind string) (int64, error) {
	if limit := MaxSize(kind); limit > 0 {
		return limit, nil
	}
	return 0, invalid("unknown media kind %q: want one of %s", kind, strings.Join(ctl.MediaKinds, ", "))
}

// tooLarge is the invalid-params error for a file of kind over its limit;
// size says how large it is ("70000000 bytes", "more than ...").
func tooLarge(kind, size string) error {
	return invalid("the %s is too large: %s, over WhatsApp's %s limit of %s", kind, size, kind, humanSize(MaxSize(kind)))
}

// humanSize writes n bytes in the largest binary unit that divides it.
func humanSize(n int64) string {
	for _, u := range []struct {
		size int64
		name string
	}{{1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if n >= u.size && n%u.size == 0 {
			return fmt.Sprintf("%d %s", n/u.size, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}
