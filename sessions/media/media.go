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
	"io"
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
