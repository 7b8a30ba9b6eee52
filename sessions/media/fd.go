package media

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/wad-project/wad/ctl"
)

// FromFD returns the bytes behind a descriptor a peer passed, for an
// Input of kind: a regular file is read in place (the peer must not
// change it before the reply), anything else readable (a pipe, a socket)
// is copied to an anonymous spool file in TempDir, read through a small
// buffer and never beyond the kind's limit. Errors name f by f.Name().
//
// closer releases the spool (it is nil for a regular file). f stays the
// caller's to close: at once when there is a spool, else not before the
// File made of r is done with, as r is f. An unknown kind, a directory,
// a descriptor not open for reading and a file over the kind's limit
// are invalid-params errors.
//
// Reading a pipe waits for its writer to close it. To bound that wait,
// make f pollable (os.NewFile of a non-blocking descriptor) and set a
// read deadline: one that passes is a ctl.CodeTimeout error.
func (p *Preparer) FromFD(f *os.File, kind string) (r io.ReaderAt, size int64, closer io.Closer, err error) {
	limit, err := checkKind(kind)
	if err != nil {
		return nil, 0, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, nil, invalid("%s is not readable: %v", f.Name(), err)
	}
	if err := checkReadable(f, fi); err != nil {
		return nil, 0, nil, err
	}
	if fi.Mode().IsRegular() {
		if fi.Size() > limit {
			return nil, 0, nil, tooLarge(kind, fmt.Sprintf("%d bytes", fi.Size()))
		}
		return f, fi.Size(), nil, nil
	}
	spool, n, err := p.spool(f, limit+1)
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, 0, nil, ctl.Errorf(ctl.CodeTimeout, "%s: the file did not arrive in time: %v", f.Name(), err)
	case err != nil:
		return nil, 0, nil, fmt.Errorf("spooling %s: %w", f.Name(), err)
	case n > limit:
		spool.Close()
		return nil, 0, nil, tooLarge(kind, fmt.Sprintf("more than %d bytes", limit))
	}
	return spool, n, spool, nil
}

// checkReadable refuses a directory and a descriptor not open for
// reading (write-only, or O_PATH), before anything reads it.
func checkReadable(f *os.File, fi os.FileInfo) error {
	if fi.IsDir() {
		return invalid("%s is not readable: it is a directory", f.Name())
	}
	sc, err := f.SyscallConn()
	if err != nil {
		return invalid("%s is not readable: %v", f.Name(), err)
	}
	var flags int
	cerr := sc.Control(func(fd uintptr) { flags, err = unix.FcntlInt(fd, unix.F_GETFL, 0) })
	if err := cmp.Or(cerr, err); err != nil {
		return invalid("%s is not readable: %v", f.Name(), err)
	}
	if flags&unix.O_PATH != 0 || flags&unix.O_ACCMODE == unix.O_WRONLY {
		return invalid("%s is not readable: %v (not open for reading)", f.Name(), unix.EBADF)
	}
	return nil
}

// copyBufSize is the buffer that file reads and copies go through: two
// pipe buffers' worth.
const copyBufSize = 128 << 10

// spool copies up to limit bytes of r to a new anonymous file in
// TempDir (created, then at once removed), and returns it with the
// count copied. Memory stays bounded by one copy buffer.
func (p *Preparer) spool(r io.Reader, limit int64) (*os.File, int64, error) {
	f, err := os.CreateTemp(p.TempDir, "wad-media-*")
	if err != nil {
		return nil, 0, err
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, 0, err
	}
	n, err := io.CopyBuffer(writerOnly{f}, io.LimitReader(r, limit), make([]byte, copyBufSize))
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, n, nil
}

// writerOnly hides a file's ReadFrom, so that io.CopyBuffer uses the
// buffer it is given.
type writerOnly struct{ io.Writer }
