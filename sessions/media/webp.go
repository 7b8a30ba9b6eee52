package media

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// WebP's RIFF container: enough to read a sticker's size and whether it
// is animated from its first chunk, which VP8X (extended), VP8 (lossy)
// and VP8L (lossless) files all open with.

// isWebP reports whether head starts a RIFF file of form WEBP.
func isWebP(head []byte) bool {
	return len(head) >= 12 && string(head[:4]) == "RIFF" && string(head[8:12]) == "WEBP"
}

// webpInfo is what a WebP file's first chunk tells.
type webpInfo struct {
	width, height int
	animated      bool
}

const (
	webpChunk   = 20   // where the first chunk's payload starts
	vp8xAnimBit = 0x02 // VP8X flags: an animation
)

// parseWebP reads the canvas size of a WebP file, and its animation
// flag, from its first chunk in head.
func parseWebP(head []byte) (webpInfo, error) {
	if !isWebP(head) || len(head) < webpChunk {
		return webpInfo{}, errors.New("truncated header")
	}
	data := head[webpChunk:]
	var info webpInfo
	switch fourcc := string(head[12:16]); fourcc {
	case "VP8X":
		if len(data) < 10 {
			return webpInfo{}, errors.New("truncated VP8X chunk")
		}
		info.animated = data[0]&vp8xAnimBit != 0
		info.width, info.height = 1+int(le24(data[4:7])), 1+int(le24(data[7:10]))
	case "VP8 ":
		// A key frame's 3-byte tag (bit 0 clear), a start code, then
		// 14-bit width and height.
		if len(data) < 10 || data[0]&1 != 0 || string(data[3:6]) != "\x9d\x01\x2a" {
			return webpInfo{}, errors.New("VP8 chunk without a key frame header")
		}
		info.width = int(binary.LittleEndian.Uint16(data[6:8]) & 0x3fff)
		info.height = int(binary.LittleEndian.Uint16(data[8:10]) & 0x3fff)
	case "VP8L":
		// A signature byte, then 14-bit width-1 and height-1.
		if len(data) < 5 || data[0] != 0x2f {
			return webpInfo{}, errors.New("VP8L chunk without its signature")
		}
		bits := binary.LittleEndian.Uint32(data[1:5])
		info.width, info.height = 1+int(bits&0x3fff), 1+int(bits>>14&0x3fff)
	default:
		return webpInfo{}, fmt.Errorf("unknown first chunk %q", fourcc)
	}
	if info.width == 0 || info.height == 0 {
		return webpInfo{}, errors.New("zero width or height")
	}
	return info, nil
}

// le24 reads a 24-bit little-endian number.
func le24(b []byte) uint32 { return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 }
