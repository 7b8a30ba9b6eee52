package media

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/wad-project/wad/ctl"
)

// fixtureDir holds the files tests make with ffmpeg, made once per run.
var fixtureDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wad-media-test-*")
	if err != nil {
		panic(err)
	}
	fixtureDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// lavfi is ffmpeg's input of a generated source.
func lavfi(src string) []string { return []string{"-f", "lavfi", "-i", src} }

// ffmpegFixtures are the files tests make with ffmpeg: their ffmpeg
// arguments before the output path. An argument "fixture:NAME" is the
// path of another fixture.
var ffmpegFixtures = map[string][]string{
	"voice.ogg":  append(lavfi("sine=d=1"), "-c:a", "libopus"),
	"vorbis.ogg": append(lavfi("sine=d=1"), "-c:a", "libvorbis"),
	"audio.mp3":  append(lavfi("sine=d=2"), "-c:a", "libmp3lame"),
	// An MP3 without an ID3 tag or a Xing frame: frames from the start.
	"raw.mp3":   append(lavfi("sine=d=2"), "-c:a", "libmp3lame", "-id3v2_version", "0", "-write_xing", "0"),
	"audio.m4a": append(lavfi("sine=d=2"), "-c:a", "aac"),
	"video.mp4": append(lavfi("testsrc=size=320x240:rate=10"), "-t", "1", "-pix_fmt", "yuv420p"),
	"video.3gp": append(lavfi("testsrc=size=320x240:rate=10"), "-t", "1", "-pix_fmt", "yuv420p", "-c:v", "libx264"),
	// A portrait phone video: landscape pixels turned by the matrix.
	"portrait.mp4": {"-i", "fixture:video.mp4", "-c", "copy", "-metadata:s:v:0", "rotate=90"},
	// An MP4 whose index (moov) follows its ~1 MB of media data, which
	// ffmpeg cannot read from a pipe: it must seek.
	"moovlast.mp4":  append(lavfi("testsrc2=size=640x360:rate=25"), "-t", "2", "-pix_fmt", "yuv420p", "-preset", "ultrafast", "-qp", "0"),
	"lossy.webp":    append(lavfi("color=red:size=512x512"), "-frames:v", "1", "-c:v", "libwebp"),
	"lossless.webp": append(lavfi("color=red:size=512x256"), "-frames:v", "1", "-c:v", "libwebp", "-lossless", "1"),
	"alpha.webp":    append(lavfi("color=red@0.5:size=256x512,format=rgba"), "-frames:v", "1", "-c:v", "libwebp"),
	"animated.webp": append(lavfi("testsrc=size=512x512:rate=10"), "-t", "1", "-c:v", "libwebp_anim", "-loop", "0"),
	"image.webp":    append(lavfi("testsrc=size=200x100"), "-frames:v", "1", "-c:v", "libwebp"),
}

var fixtureMu sync.Mutex

// requireFFmpeg fails the test when ffmpeg is missing: `make deps`
// installs it, and the tests of video thumbnails and of real audio and
// WebP files need it.
func requireFFmpeg(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatalf("ffmpeg is missing (%v): run `make deps` to install it", err)
	}
	return path
}

// fixturePath returns the path of an ffmpeg fixture, making it first if
// need be.
func fixturePath(t *testing.T, name string) string {
	t.Helper()
	bin := requireFFmpeg(t)
	fixtureMu.Lock()
	defer fixtureMu.Unlock()
	return makeFixture(t, bin, name)
}

func makeFixture(t *testing.T, bin, name string) string {
	t.Helper()
	path := filepath.Join(fixtureDir, name)
	if _, err := os.Stat(path); err == nil {
		return path
	}
	spec, ok := ffmpegFixtures[name]
	if !ok {
		t.Fatalf("no fixture %s", name)
	}
	args := []string{"-hide_banner", "-loglevel", "error", "-nostdin", "-y"}
	for _, a := range spec {
		if dep, ok := strings.CutPrefix(a, "fixture:"); ok {
			a = makeFixture(t, bin, dep)
		}
		args = append(args, a)
	}
	tmp := filepath.Join(fixtureDir, "tmp-"+name)
	if out, err := exec.Command(bin, append(args, tmp)...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// fixture returns the bytes of an ffmpeg fixture.
func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(fixturePath(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// gradient is a w×h image with some detail, opaque unless alpha.
func gradient(w, h int, alpha bool) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			a := uint8(255)
			if alpha && x < w/2 {
				a = 0
			}
			img.Set(x, y, color.NRGBA{uint8(x * 255 / w), uint8(y * 255 / h), 128, a})
		}
	}
	return img
}

func encodePNG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodeJPEG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodeGIF(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := gif.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// wantInvalid fails unless err is an invalid-params error whose message
// contains each of parts.
func wantInvalid(t *testing.T, err error, parts ...string) {
	t.Helper()
	if !errors.Is(err, ctl.ErrInvalidParams) {
		t.Fatalf("err = %v, want an invalid-params error", err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("err = %q, want it to contain %q", err, p)
		}
	}
}

func TestMaxSize(t *testing.T) {
	for kind, want := range map[string]int64{
		ctl.MediaImage:    16 << 20,
		ctl.MediaVideo:    64 << 20,
		ctl.MediaAudio:    16 << 20,
		ctl.MediaVoice:    16 << 20,
		ctl.MediaDocument: 2 << 30,
		ctl.MediaSticker:  500 << 10,
		"gif":             0,
		"":                0,
	} {
		if got := MaxSize(kind); got != want {
			t.Errorf("MaxSize(%q) = %d, want %d", kind, got, want)
		}
	}
	for _, kind := range ctl.MediaKinds {
		if MaxSize(kind) == 0 {
			t.Errorf("kind %s has no limit", kind)
		}
	}
}

func TestHumanSize(t *testing.T) {
	for n, want := range map[int64]string{
		2 << 30:   "2 GiB",
		64 << 20:  "64 MiB",
		500 << 10: "500 KiB",
		1000:      "1000 bytes",
		1<<20 + 1: "1048577 bytes",
	} {
		if got := humanSize(n); got != want {
			t.Errorf("humanSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestKindOfMime(t *testing.T) {
	for m, want := range map[string]string{
		"image/jpeg":             ctl.MediaImage,
		"image/webp":             ctl.MediaImage,
		"video/mp4":              ctl.MediaVideo,
		"audio/ogg; codecs=opus": ctl.MediaAudio,
		"Audio/MPEG":             ctl.MediaAudio,
		"application/pdf":        ctl.MediaDocument,
		"text/plain":             ctl.MediaDocument,
		"":                       ctl.MediaDocument,
		"nonsense":               ctl.MediaDocument,
	} {
		if got := KindOfMime(m); got != want {
			t.Errorf("KindOfMime(%q) = %q, want %q", m, got, want)
		}
	}
}
