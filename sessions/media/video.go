package media

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"image/jpeg"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// ffmpegTimeout bounds one run of ffmpeg for a video's thumbnail.
const ffmpegTimeout = 30 * time.Second

// videoThumbnail returns a JPEG of the first frame of a video, scaled to
// fit within ThumbnailSize, made by ffmpeg; nil when there is no ffmpeg
// or it fails (which is logged, at Info the first time).
func (p *Preparer) videoThumbnail(ctx context.Context, r io.ReaderAt, size int64) []byte {
	bin := p.ffmpeg()
	if bin == "" {
		return nil
	}
	thumb, err := p.runFFmpeg(ctx, bin, r, size)
	if err != nil {
		level := slog.LevelDebug
		if p.ffmpegFailed.CompareAndSwap(false, true) {
			level = slog.LevelInfo
		}
		p.log().Log(ctx, level, "ffmpeg made no video thumbnail: the video is sent without one", "err", err)
		return nil
	}
	return thumb
}

// ffmpeg returns the path of ffmpeg, looked up once, or "" when there is
// none (logged once, at Info).
func (p *Preparer) ffmpeg() string {
	p.ffmpegOnce.Do(func() {
		name := cmp.Or(p.FFmpeg, "ffmpeg")
		path, err := exec.LookPath(name)
		if err != nil {
			p.log().Info("ffmpeg not found: videos are sent without a preview thumbnail", "ffmpeg", name, "err", err)
			return
		}
		p.ffmpegPath = path
	})
	return p.ffmpegPath
}

// runFFmpeg has ffmpeg write the video's first frame as a thumbnail
// JPEG. ffmpeg reads the video as a file it can seek in, as an MP4 whose
// index follows its media data needs.
func (p *Preparer) runFFmpeg(ctx context.Context, bin string, r io.ReaderAt, size int64) ([]byte, error) {
	in, err := p.seekable(r, size)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	ctx, cancel := context.WithTimeout(ctx, ffmpegTimeout)
	defer cancel()
	box := strconv.Itoa(ThumbnailSize)
	cmd := exec.CommandContext(ctx, bin, "-hide_banner", "-loglevel", "error", "-nostdin",
		"-i", "/dev/fd/3", "-frames:v", "1",
		"-vf", "scale=w="+box+":h="+box+":force_original_aspect_ratio=decrease",
		"-f", "image2", "-c:v", "mjpeg", "pipe:1")
	cmd.ExtraFiles = []*os.File{in}
	cmd.WaitDelay = time.Second
	out, err := cmd.Output()
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) && len(ee.Stderr) > 0 {
		return nil, fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
	}
	if err != nil {
		return nil, err
	}
	if _, err := jpeg.DecodeConfig(bytes.NewReader(out)); err != nil {
		return nil, fmt.Errorf("ffmpeg wrote no JPEG: %w", err)
	}
	return out, nil
}

// seekable returns the bytes of r as a file a child process can open as
// /dev/fd/3 and seek in: r's own file opened anew when r is a file this
// process may open so (a child does the same), else a spooled copy.
func (p *Preparer) seekable(r io.ReaderAt, size int64) (*os.File, error) {
	if f, ok := r.(*os.File); ok {
		if g, err := reopen(f); err == nil {
			return g, nil
		}
	}
	f, _, err := p.spool(io.NewSectionReader(r, 0, size), size)
	return f, err
}

// reopen opens f's file again through /proc/self/fd, with its own
// offset; it fails where f's file's permissions do not allow this
// process to open it.
func reopen(f *os.File) (*os.File, error) {
	sc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var g *os.File
	cerr := sc.Control(func(fd uintptr) {
		g, err = os.Open("/proc/self/fd/" + strconv.FormatUint(uint64(fd), 10))
	})
	return g, cmp.Or(cerr, err)
}
