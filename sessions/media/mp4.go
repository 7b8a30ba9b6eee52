package media

import (
	"encoding/binary"
	"io"
	"math"
)

// The ISO base media file format (MP4, 3GP, M4A, QuickTime): enough to
// read a file's duration (mvhd) and its video's dimensions (tkhd).

// maxBoxes bounds how many sibling boxes are walked, so that a file of
// many tiny boxes costs little.
const maxBoxes = 1024

// box is one box: its type and where its payload lies in the file.
type box struct {
	typ        string
	start, end int64
}

// eachBox calls fn for each box within [start, end) of r, in order,
// until fn returns false, a box is malformed or a read fails.
func eachBox(r io.ReaderAt, start, end int64, fn func(box) bool) {
	var hdr [16]byte
	for off, n := start, 0; off+8 <= end && n < maxBoxes; n++ {
		if readAt(r, hdr[:8], off) != nil {
			return
		}
		size, hlen := int64(binary.BigEndian.Uint32(hdr[:4])), int64(8)
		switch size {
		case 0: // to the end
			size = end - off
		case 1: // a 64-bit size follows the type
			if readAt(r, hdr[8:16], off+8) != nil {
				return
			}
			size, hlen = int64(binary.BigEndian.Uint64(hdr[8:16])), 16
		}
		if size < hlen || size > end-off {
			return
		}
		if !fn(box{typ: string(hdr[4:8]), start: off + hlen, end: off + size}) {
			return
		}
		off += size
	}
}

// child returns the first box of type typ within parent.
func child(r io.ReaderAt, parent box, typ string) (box, bool) {
	var found box
	eachBox(r, parent.start, parent.end, func(b box) bool {
		if b.typ == typ {
			found = b
		}
		return b.typ != typ
	})
	return found, found.typ == typ
}

// payload reads up to n bytes from the start of a box's payload; nil
// when the read fails.
func payload(r io.ReaderAt, b box, n int64) []byte {
	buf := make([]byte, min(n, b.end-b.start))
	if readAt(r, buf, b.start) != nil {
		return nil
	}
	return buf
}

// mp4Info is what an ISO media file tells of itself; zero when unknown.
type mp4Info struct {
	width, height int
	seconds       float64
}

// readMP4 reads the duration of an ISO media file of size bytes and the
// display dimensions of its first visual track.
func readMP4(r io.ReaderAt, size int64) mp4Info {
	moov, ok := child(r, box{start: 0, end: size}, "moov")
	if !ok {
		return mp4Info{}
	}
	var info mp4Info
	if mvhd, ok := child(r, moov, "mvhd"); ok {
		info.seconds = mvhdSeconds(r, mvhd)
	}
	eachBox(r, moov.start, moov.end, func(b box) bool {
		if b.typ == "trak" {
			if tkhd, ok := child(r, b, "tkhd"); ok {
				info.width, info.height = tkhdSize(r, tkhd)
			}
		}
		return info.width == 0
	})
	return info
}

// mvhdSeconds returns the duration a movie header gives, 0 when unknown.
func mvhdSeconds(r io.ReaderAt, mvhd box) float64 {
	b := payload(r, mvhd, 32)
	var scale, dur uint64
	switch {
	case len(b) >= 20 && b[0] == 0: // version 0: 32-bit times
		scale, dur = uint64(binary.BigEndian.Uint32(b[12:16])), uint64(binary.BigEndian.Uint32(b[16:20]))
		if dur == math.MaxUint32 {
			return 0
		}
	case len(b) >= 32 && b[0] == 1: // version 1: 64-bit times
		scale, dur = uint64(binary.BigEndian.Uint32(b[20:24])), binary.BigEndian.Uint64(b[24:32])
		if dur == math.MaxUint64 {
			return 0
		}
	}
	if scale == 0 {
		return 0
	}
	return float64(dur) / float64(scale)
}

// tkhdSize returns the width and height a track header gives (zero for
// a track that is not visual), swapped when its matrix turns the track
// by a quarter turn, as phones record portrait videos.
func tkhdSize(r io.ReaderAt, tkhd box) (width, height int) {
	b := payload(r, tkhd, 96)
	// The matrix follows version and flags, times, track id, duration,
	// reserved bytes, layer, group and volume; the size follows it.
	matrix := 40
	if len(b) > 0 && b[0] == 1 {
		matrix = 52
	}
	if len(b) < matrix+44 {
		return 0, 0
	}
	m, wh := b[matrix:matrix+36], b[matrix+36:matrix+44]
	width, height = int(binary.BigEndian.Uint32(wh[0:4])>>16), int(binary.BigEndian.Uint32(wh[4:8])>>16)
	if binary.BigEndian.Uint32(m[0:4]) == 0 && binary.BigEndian.Uint32(m[16:20]) == 0 { // a = d = 0
		width, height = height, width
	}
	return width, height
}
