package media

import (
	"bytes"
	"encoding/binary"
	"io"
)

// Ogg (RFC 3533) and Opus in Ogg (RFC 7845): enough to tell an Ogg/Opus
// stream and to measure it.

const (
	oggHeaderLen = 27
	// oggMaxPage is the largest page: a header, 255 lacing values and
	// 255 segments of 255 bytes.
	oggMaxPage = oggHeaderLen + 255 + 255*255
	oggBOS     = 0x02 // header type flag: first page of a stream
	// opusRate is the rate of every Opus granule position.
	opusRate = 48000
)

// oggPage is one page's header fields and payload.
type oggPage struct {
	flags   byte
	granule int64 // -1 when no packet ends on the page
	serial  uint32
	data    []byte
}

// parseOggPage parses the page at the start of b: "OggS", version 0, a
// whole page within b, and a matching CRC.
func parseOggPage(b []byte) (oggPage, bool) {
	if len(b) < oggHeaderLen || !bytes.HasPrefix(b, []byte("OggS")) || b[4] != 0 {
		return oggPage{}, false
	}
	nseg := int(b[26])
	if len(b) < oggHeaderLen+nseg {
		return oggPage{}, false
	}
	size := oggHeaderLen + nseg
	for _, l := range b[oggHeaderLen : oggHeaderLen+nseg] {
		size += int(l)
	}
	if len(b) < size || oggCRC(b[:size]) != binary.LittleEndian.Uint32(b[22:26]) {
		return oggPage{}, false
	}
	return oggPage{
		flags:   b[5],
		granule: int64(binary.LittleEndian.Uint64(b[6:14])),
		serial:  binary.LittleEndian.Uint32(b[14:18]),
		data:    b[oggHeaderLen+nseg : size],
	}, true
}

// opusStream is what the first page of an Ogg/Opus stream tells.
type opusStream struct {
	serial  uint32
	preSkip int64 // samples at 48 kHz to drop from the start
}

// opusHead reads the first page of an Ogg stream, at the start of head:
// it is an Opus stream when that page begins the stream and carries an
// "OpusHead" identification header of a version this reads (RFC 7845
// 5.1: major version 0).
func opusHead(head []byte) (opusStream, bool) {
	p, ok := parseOggPage(head)
	if !ok || p.flags&oggBOS == 0 || len(p.data) < 19 || !bytes.HasPrefix(p.data, []byte("OpusHead")) || p.data[8] >= 16 {
		return opusStream{}, false
	}
	return opusStream{serial: p.serial, preSkip: int64(binary.LittleEndian.Uint16(p.data[10:12]))}, true
}

// opusSeconds returns the duration of an Ogg/Opus stream of size bytes:
// the granule position of its last page, less the pre-skip, at 48 kHz.
// It returns 0 when no such page is found in the file's last two
// maximal pages, or they cannot be read.
func opusSeconds(r io.ReaderAt, size int64, s opusStream) float64 {
	tail := make([]byte, min(size, 2*oggMaxPage))
	if readAt(r, tail, size-int64(len(tail))) != nil {
		return 0
	}
	for end := len(tail); end > 0; {
		i := bytes.LastIndex(tail[:end], []byte("OggS"))
		if i < 0 {
			break
		}
		if p, ok := parseOggPage(tail[i:]); ok && p.serial == s.serial && p.granule >= 0 {
			return float64(max(p.granule-s.preSkip, 0)) / opusRate
		}
		end = i
	}
	return 0
}

// oggCRCTable is the table of Ogg's CRC-32: polynomial 0x04c11db7, most
// significant bit first, no reflection.
var oggCRCTable = func() (t [256]uint32) {
	for i := range t {
		r := uint32(i) << 24
		for range 8 {
			if r&0x80000000 != 0 {
				r = r<<1 ^ 0x04c11db7
			} else {
				r <<= 1
			}
		}
		t[i] = r
	}
	return t
}()

// oggCRC returns the checksum of a whole page, its own CRC field read
// as zeros.
func oggCRC(page []byte) uint32 {
	var crc uint32
	for i, b := range page {
		if i >= 22 && i < 26 {
			b = 0
		}
		crc = crc<<8 ^ oggCRCTable[byte(crc>>24)^b]
	}
	return crc
}
