package media

import (
	"strings"
	"testing"
)

func TestDetect(t *testing.T) {
	for _, tt := range []struct{ head, want string }{
		{"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00", "video/mp4"},
		{"\x00\x00\x00\x18ftyp3gp5\x00\x00\x02\x00", "video/3gpp"},
		{"\x00\x00\x00\x18ftyp3g2a\x00\x00\x02\x00", "video/3gpp2"},
		{"\x00\x00\x00\x18ftypM4A \x00\x00\x02\x00", "audio/mp4"},
		{"\x00\x00\x00\x18ftypqt  \x00\x00\x02\x00", "video/quicktime"},
		{"\x00\x00\x00\x18ftypavif\x00\x00\x02\x00", "image/avif"},
		{"\x00\x00\x00\x18ftypheic\x00\x00\x02\x00", "image/heic"},
		{"#!AMR\n\x3c", "audio/amr"},
		{"#!AMR-WB\n\x3c", "audio/amr-wb"},
		{"fLaC\x00\x00\x00\x22", "audio/flac"},
		{"\xff\xf1\x50\x80\x02\x1f\xfc", "audio/aac"},
		{"\xff\xfb\x90\x64\x00", "audio/mpeg"},
		{"ID3\x04\x00\x00\x00\x00\x00\x00", "audio/mpeg"},
		{"\xff\xfb\xf0\x64\x00", "application/octet-stream"}, // bitrate index 15: no frame
		{"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "image/jpeg"},
		{"OggS\x00\x02 not a valid page", "audio/ogg"},
		{"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"},
		{"RIFF\x00\x00\x00\x00WAVEfmt ", "audio/wave"},
		{"\x1a\x45\xdf\xa3\x01\x00\x00\x00", "video/webm"},
		{"%PDF-1.4\n", "application/pdf"},
		{"PK\x03\x04\x14\x00", "application/zip"},
		{"plain words\n", "text/plain; charset=utf-8"},
		{"\x00\x01\x02\x03", "application/octet-stream"},
	} {
		if got := detect([]byte(tt.head)); got != tt.want {
			t.Errorf("detect(%q) = %q, want %q", tt.head, got, tt.want)
		}
	}
}

func TestParseMime(t *testing.T) {
	for _, tt := range []struct{ kind, mime, want, err string }{
		{"image", "", "", ""},
		{"image", "IMAGE/PNG", "image/png", ""},
		{"audio", "audio/ogg;codecs=opus", "audio/ogg; codecs=opus", ""},
		{"document", "application/vnd.ms-excel", "application/vnd.ms-excel", ""},
		{"document", "x", "", `invalid mime "x"`},
		{"image", "image/", "", `invalid mime "image/"`},
		{"sticker", "video/webm", "", "mime video/webm does not fit kind sticker: want image/*"},
		{"audio", "video/mp4", "", "mime video/mp4 does not fit kind audio: want audio/*"},
	} {
		got, err := parseMime(tt.kind, tt.mime)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("parseMime(%q, %q): err %v, want %q", tt.kind, tt.mime, err, tt.err)
		case tt.err == "" && (err != nil || string(got) != tt.want):
			t.Errorf("parseMime(%q, %q) = %q, %v, want %q", tt.kind, tt.mime, got, err, tt.want)
		}
	}
}
