package wafake

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/hkdf"
)

// noiseStart is the protocol name of WhatsApp's handshake. It is exactly
// 32 bytes, so Noise uses it as the initial hash as it is (not hashed).
const noiseStart = "Noise_XX_25519_AESGCM_SHA256\x00\x00\x00\x00"

// connHeader is the prologue the client sends before its first frame:
// "WA", the protocol magic and the binary dictionary version. The fake
// reads it from the wire and mixes what it read into the hash, so a
// client with another dictionary version fails the handshake as it would
// against the real server.
const connHeaderLen = 4

// maxFrame is the largest frame the 3-byte length prefix can carry.
const maxFrame = 1<<24 - 1

// handshake is the responder's half of Noise XX as WhatsApp runs it:
// SHA-256, AES-GCM with a 96-bit IV whose last 4 bytes count messages,
// and HKDF for both key mixing and the final split.
type handshake struct {
	hash    []byte
	salt    []byte
	key     cipher.AEAD
	counter uint32
}

func newHandshake(prologue []byte) (*handshake, error) {
	h := &handshake{hash: []byte(noiseStart), salt: []byte(noiseStart)}
	var err error
	if h.key, err = newGCM(h.hash); err != nil {
		return nil, err
	}
	h.authenticate(prologue)
	return h, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

func iv(n uint32) []byte {
	v := make([]byte, 12)
	binary.BigEndian.PutUint32(v[8:], n)
	return v
}

func (h *handshake) authenticate(data []byte) {
	sum := sha256.Sum256(append(append([]byte(nil), h.hash...), data...))
	h.hash = sum[:]
}

func (h *handshake) encrypt(plain []byte) []byte {
	c := h.key.Seal(nil, iv(h.counter), plain, h.hash)
	h.counter++
	h.authenticate(c)
	return c
}

func (h *handshake) decrypt(c []byte) ([]byte, error) {
	p, err := h.key.Open(nil, iv(h.counter), c, h.hash)
	h.counter++
	if err != nil {
		return nil, err
	}
	h.authenticate(c)
	return p, nil
}

// mixDH mixes the X25519 shared secret of priv and pub into the key.
func (h *handshake) mixDH(priv, pub []byte) error {
	secret, err := curve25519.X25519(priv, pub)
	if err != nil {
		return err
	}
	first, second, err := expand(h.salt, secret)
	if err != nil {
		return err
	}
	h.salt, h.counter = first, 0
	h.key, err = newGCM(second)
	return err
}

// split returns the transport ciphers: the client writes with the first
// key, so the server reads with it and writes with the second.
func (h *handshake) split() (read, write cipher.AEAD, err error) {
	first, second, err := expand(h.salt, nil)
	if err != nil {
		return nil, nil, err
	}
	if read, err = newGCM(first); err != nil {
		return nil, nil, err
	}
	write, err = newGCM(second)
	return read, write, err
}

func expand(salt, secret []byte) (first, second []byte, err error) {
	r := hkdf.New(sha256.New, secret, salt, nil)
	first, second = make([]byte, 32), make([]byte, 32)
	if _, err = io.ReadFull(r, first); err == nil {
		_, err = io.ReadFull(r, second)
	}
	return first, second, err
}

// frameReader splits the client's websocket stream into frames: a
// 3-byte big-endian length and that many bytes. A frame may span
// websocket messages and a message may hold several frames.
type frameReader struct {
	buf      []byte
	header   bool // the connection header has been consumed
	prologue []byte
}

// push adds a websocket message and returns the complete frames in it.
func (f *frameReader) push(msg []byte) ([][]byte, error) {
	f.buf = append(f.buf, msg...)
	if !f.header {
		if len(f.buf) < connHeaderLen {
			return nil, nil
		}
		f.prologue = append([]byte(nil), f.buf[:connHeaderLen]...)
		if f.prologue[0] != 'W' || f.prologue[1] != 'A' {
			return nil, fmt.Errorf("connection header %x is not WhatsApp's", f.prologue)
		}
		f.buf = f.buf[connHeaderLen:]
		f.header = true
	}
	var out [][]byte
	for len(f.buf) >= 3 {
		n := int(f.buf[0])<<16 | int(f.buf[1])<<8 | int(f.buf[2])
		if len(f.buf) < 3+n {
			break
		}
		out = append(out, append([]byte(nil), f.buf[3:3+n]...))
		f.buf = f.buf[3+n:]
	}
	return out, nil
}

// frame prefixes data with its 3-byte length.
func frame(data []byte) ([]byte, error) {
	if len(data) > maxFrame {
		return nil, errors.New("frame too large")
	}
	out := make([]byte, 3+len(data))
	out[0], out[1], out[2] = byte(len(data)>>16), byte(len(data)>>8), byte(len(data))
	copy(out[3:], data)
	return out, nil
}
