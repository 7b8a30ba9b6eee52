package media

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wad-project/wad/ctl"
)

// writeFile writes data to a new file in dir and returns its path.
func writeFile(t *testing.T, dir string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, "file")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// pipeOf returns the read end of a pipe that n bytes of data (repeated)
// are written to and then closed, by a goroutine the test waits for.
func pipeOf(t *testing.T, data []byte, n int64) *os.File {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer w.Close()
		for n > 0 {
			k, err := w.Write(data[:min(int64(len(data)), n)])
			if err != nil {
				return // the reader stopped: over the limit
			}
			n -= int64(k)
		}
	}()
	t.Cleanup(func() {
		r.Close()
		<-done
	})
	return r
}

// spoolDir is a TempDir for a Preparer, checked empty at the end: a
// spool file is never left there, not even while it is in use.
func spoolDir(t *testing.T) string {
	dir := t.TempDir()
	t.Cleanup(func() {
		if names, _ := os.ReadDir(dir); len(names) > 0 {
			t.Errorf("%s holds %v", dir, names)
		}
	})
	return dir
}

func TestFromFDRegularFile(t *testing.T) {
	data := []byte("%PDF-1.7 and more")
	f, err := os.Open(writeFile(t, t.TempDir(), data))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := &Preparer{TempDir: spoolDir(t)}
	r, size, closer, err := p.FromFD(f, ctl.MediaDocument)
	if err != nil {
		t.Fatal(err)
	}
	if r != io.ReaderAt(f) || size != int64(len(data)) || closer != nil {
		t.Fatalf("got %v, %d, %v: want the file itself, its size and no closer", r, size, closer)
	}
	got := make([]byte, size)
	if _, err := r.ReadAt(got, 0); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %q (%v)", got, err)
	}
}

func TestFromFDRegularFileOverLimit(t *testing.T) {
	// A sparse file of 3 GiB: refused by its size, before any read.
	path := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 3<<30); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, _, _, err = (&Preparer{}).FromFD(f, ctl.MediaDocument)
	wantInvalid(t, err, "the document is too large: 3221225472 bytes, over WhatsApp's document limit of 2 GiB")
}

func TestFromFDPipe(t *testing.T) {
	data := encodePNG(t, gradient(300, 200, false))
	p := &Preparer{TempDir: spoolDir(t)}
	r, size, closer, err := p.FromFD(pipeOf(t, data, int64(len(data))), ctl.MediaImage)
	if err != nil {
		t.Fatal(err)
	}
	if closer == nil {
		t.Fatal("no closer for a spool")
	}
	// The File owns the spool from here; the bytes can be read twice.
	f, err := p.Prepare(context.Background(), Input{Kind: ctl.MediaImage, R: r, Size: size, Closer: closer})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		got, err := io.ReadAll(f.Reader())
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read %d bytes (%v), want the %d written", len(got), err, len(data))
		}
	}
	if f.Width != 300 {
		t.Errorf("Width = %d", f.Width)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadAt(make([]byte, 1), 0); !errors.Is(err, os.ErrClosed) {
		t.Errorf("spool still open after Close: %v", err)
	}
}

func TestFromFDPipeOverLimit(t *testing.T) {
	p := &Preparer{TempDir: spoolDir(t)}
	_, _, _, err := p.FromFD(pipeOf(t, make([]byte, 64<<10), MaxSticker+1), ctl.MediaSticker)
	wantInvalid(t, err, "the sticker is too large: more than 512000 bytes, over WhatsApp's sticker limit of 500 KiB")
	// Exactly at the limit is fine.
	_, size, closer, err := p.FromFD(pipeOf(t, make([]byte, 64<<10), MaxSticker), ctl.MediaSticker)
	if err != nil || size != MaxSticker {
		t.Fatalf("size %d, %v", size, err)
	}
	closer.Close()
}

func TestFromFDNotReadable(t *testing.T) {
	dir := t.TempDir()
	wo, err := os.OpenFile(writeFile(t, dir, []byte("data")), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer wo.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	pathFD, err := unix.Open(filepath.Join(dir, "file"), unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	op := os.NewFile(uintptr(pathFD), "fd2")
	defer op.Close()
	for _, tt := range []struct {
		f    *os.File
		want string
	}{
		{wo, "is not readable: bad file descriptor (not open for reading)"},
		{pw, "is not readable: bad file descriptor (not open for reading)"},
		{op, "is not readable: bad file descriptor (not open for reading)"},
		{d, "is not readable: it is a directory"},
	} {
		_, _, _, err := (&Preparer{TempDir: spoolDir(t)}).FromFD(tt.f, ctl.MediaDocument)
		wantInvalid(t, err, tt.f.Name()+" "+tt.want)
	}
}

func TestFromFDUnknownKind(t *testing.T) {
	_, _, _, err := (&Preparer{}).FromFD(os.Stdin, "gif")
	wantInvalid(t, err, `unknown media kind "gif"`)
}

// TestFromFDDeadline: a pipe whose writer never closes it is given up on
// at the read deadline set on it.
func TestFromFDDeadline(t *testing.T) {
	r, w, err := os.Pipe() // pollable: deadlines work
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if _, err := w.Write([]byte("partial")); err != nil {
		t.Fatal(err)
	}
	if err := r.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	_, _, _, err = (&Preparer{TempDir: spoolDir(t)}).FromFD(r, ctl.MediaDocument)
	if !errors.Is(err, ctl.ErrTimeout) {
		t.Fatalf("err = %v, want a timeout error", err)
	}
}

// TestFromFDMemory: spooling a 60 MB pipe goes through a small buffer,
// never holding the file in memory.
func TestFromFDMemory(t *testing.T) {
	const size = 60 << 20
	chunk := make([]byte, 64<<10)
	pipe := pipeOf(t, chunk, size)
	p := &Preparer{TempDir: spoolDir(t)}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, n, closer, err := p.FromFD(pipe, ctl.MediaVideo)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	if n != size {
		t.Fatalf("spooled %d bytes, want %d", n, size)
	}
	// TotalAlloc counts every byte allocated meanwhile, garbage or not.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
		t.Errorf("spooling %d MB allocated %d bytes, want under 4 MiB", size>>20, alloc)
	}
}
