package media

import (
	"bytes"
	"mime"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/wad-project/wad/ctl"
)

// sniffLen is how much of a file's start detection reads: net/http's
// 512 bytes, and the first Ogg page in the usual case.
const sniffLen = 4096

// unknownMime is what detection returns when it cannot tell.
const unknownMime = "application/octet-stream"

// detect returns the mime type of content that starts with head:
// net/http's sniffing, preceded by checks for the formats it misses or
// lumps together (Ogg/Opus, WebP, the ISO media family, AMR, FLAC, MPEG
// audio without an ID3 tag, ADTS AAC). It returns unknownMime when it
// cannot tell.
func detect(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte("OggS")):
		if _, ok := opusHead(head); ok {
			return VoiceMime
		}
		return "audio/ogg"
	case isWebP(head):
		return "image/webp"
	case len(head) >= 12 && string(head[4:8]) == "ftyp":
		return ftypMime(string(head[8:12]))
	case bytes.HasPrefix(head, []byte("#!AMR-WB\n")):
		return "audio/amr-wb"
	case bytes.HasPrefix(head, []byte("#!AMR\n")):
		return "audio/amr"
	case bytes.HasPrefix(head, []byte("fLaC")):
		return "audio/flac"
	case isADTS(head):
		return "audio/aac"
	case isMPEGAudio(head):
		return "audio/mpeg"
	}
	return http.DetectContentType(head)
}

// ftypMime returns the mime type of an ISO media file (MP4, 3GP, M4A,
// QuickTime, HEIF, AVIF) by the major brand of its ftyp box.
func ftypMime(brand string) string {
	switch {
	case brand == "M4A " || brand == "M4B " || brand == "M4P ":
		return "audio/mp4"
	case strings.HasPrefix(brand, "3gp"):
		return "video/3gpp"
	case strings.HasPrefix(brand, "3g2"):
		return "video/3gpp2"
	case brand == "qt  ":
		return "video/quicktime"
	case brand == "avif" || brand == "avis":
		return "image/avif"
	case brand == "heic" || brand == "heix" || brand == "heim" || brand == "heis" || brand == "mif1" || brand == "msf1":
		return "image/heic"
	}
	return "video/mp4"
}

// isADTS reports whether head starts with an ADTS frame header: raw AAC.
func isADTS(head []byte) bool {
	return len(head) >= 2 && head[0] == 0xFF && head[1]&0xF6 == 0xF0
}

// isMPEGAudio reports whether head starts with a valid MPEG audio (MP3)
// frame header: the sync bits, then a version, layer, bitrate and sample
// rate that are not the reserved or invalid values.
func isMPEGAudio(head []byte) bool {
	if len(head) < 3 || head[0] != 0xFF || head[1]&0xE0 != 0xE0 {
		return false
	}
	version, layer := head[1]>>3&3, head[1]>>1&3
	bitrate, rate := head[2]>>4, head[2]>>2&3
	return version != 1 && layer != 0 && bitrate != 15 && rate != 3
}

// formats maps other names that clients give formats to the mime type
// detect returns for them, so that a given image/jpg matches JPEG
// content and audio/x-m4a an MP4 file. All the ISO media family is one
// format: the same container, whatever its brand.
var formats = map[string]string{
	"image/jpg":        "image/jpeg",
	"image/pjpeg":      "image/jpeg",
	"image/x-png":      "image/png",
	"audio/mp4":        "video/mp4",
	"audio/m4a":        "video/mp4",
	"audio/x-m4a":      "video/mp4",
	"video/x-m4v":      "video/mp4",
	"video/3gpp":       "video/mp4",
	"video/3gpp2":      "video/mp4",
	"audio/3gpp":       "video/mp4",
	"audio/3gpp2":      "video/mp4",
	"video/quicktime":  "video/mp4",
	"audio/opus":       "audio/ogg",
	"application/ogg":  "audio/ogg",
	"video/ogg":        "audio/ogg",
	"audio/mp3":        "audio/mpeg",
	"audio/mpeg3":      "audio/mpeg",
	"audio/x-mp3":      "audio/mpeg",
	"audio/x-mpeg":     "audio/mpeg",
	"audio/x-aac":      "audio/aac",
	"audio/aacp":       "audio/aac",
	"audio/webm":       "video/webm",
	"video/x-matroska": "video/webm",
	"audio/x-matroska": "video/webm",
	"audio/wav":        "audio/wave",
	"audio/x-wav":      "audio/wave",
	"audio/vnd.wave":   "audio/wave",
	"audio/x-flac":     "audio/flac",
	"video/x-msvideo":  "video/avi",
	"video/msvideo":    "video/avi",
}

// format returns the format a mime type names: the base type detect
// gives that format.
func format(m string) string {
	base := baseType(m)
	if f, ok := formats[base]; ok {
		return f
	}
	return base
}

// baseType returns m without its parameters ("audio/ogg" of
// "audio/ogg; codecs=opus").
func baseType(m string) string {
	base, _, _ := strings.Cut(m, ";")
	return strings.TrimSpace(base)
}

// major returns the major type of a mime type ("image" of "image/png").
func major(m string) string {
	t, _, _ := strings.Cut(m, "/")
	return t
}

// declared is the mime type a client gave: "" when none, else in
// canonical form (lower case, parameters as mime.FormatMediaType writes
// them).
type declared string

// parseMime checks the mime a client gave for kind: a valid media type
// whose major type fits the kind (any for a document).
func parseMime(kind, m string) (declared, error) {
	if m == "" {
		return "", nil
	}
	base, params, err := mime.ParseMediaType(m)
	if err != nil || !strings.Contains(base, "/") {
		return "", invalid("invalid mime %q: want type/subtype, e.g. image/jpeg", m)
	}
	if want := kindMajor(kind); want != "" && major(base) != want {
		return "", invalid("mime %s does not fit kind %s: want %s/*", base, kind, want)
	}
	return declared(mime.FormatMediaType(base, params)), nil
}

// kindMajor is the major type of a kind's mime ("" for a document:
// anything).
func kindMajor(kind string) string {
	switch kind {
	case ctl.MediaImage, ctl.MediaSticker:
		return "image"
	case ctl.MediaVideo:
		return "video"
	case ctl.MediaAudio, ctl.MediaVoice:
		return "audio"
	}
	return ""
}

// check returns an invalid-params error when the given mime names
// another format than the detected content.
func (d declared) check(detected string) error {
	if d == "" {
		return nil
	}
	g, c := format(string(d)), format(detected)
	// Many call AAC in an MP4 file (.m4a) audio/aac.
	if g == c || g == "audio/aac" && c == "video/mp4" {
		return nil
	}
	return invalid("mime %s does not match the content, which is %s", baseType(string(d)), detected)
}

// avMime checks the content of a video or an audio file (its detected
// mime) against the kind and the given mime, and returns the mime to
// send it with: the given one, else the detected one with the kind's
// major type (an MP4 or WebM file may hold either).
func avMime(kind string, given declared, detected string) (string, error) {
	want := kindMajor(kind)
	switch {
	case detected == unknownMime && given == "":
		return "", invalid("cannot tell the format of this %s from its content: give its mime", kind)
	case detected == unknownMime:
		return string(given), nil
	case major(detected) == want:
	case kind == ctl.MediaAudio && (format(detected) == "video/mp4" || format(detected) == "video/webm"):
		detected = want + "/" + strings.TrimPrefix(detected, "video/")
	default:
		return "", invalid("the content of this %s is %s, not %s", kind, detected, kindNoun(kind))
	}
	if err := given.check(detected); err != nil {
		return "", err
	}
	if given != "" {
		return string(given), nil
	}
	return detected, nil
}

// kindNoun names what a kind's content should be, for messages.
func kindNoun(kind string) string {
	if kind == ctl.MediaAudio {
		return "audio"
	}
	return "a " + kind
}

// documentMime returns the mime of a document: the given one, else the
// detected one unless it is vague and the filename's extension has a
// known mime type (a .docx is a ZIP file, a .csv plain text).
func documentMime(given declared, detected, filename string) string {
	if given != "" {
		return string(given)
	}
	switch baseType(detected) {
	case unknownMime, "text/plain", "text/xml", "application/zip":
		if m := mime.TypeByExtension(filepath.Ext(filename)); m != "" {
			return m
		}
	}
	return detected
}
