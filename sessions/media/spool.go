package media

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Spool writes f's bytes to path, mode 0600, so that they outlive the
// File (the outbound queue keeps a queued message's media this way): to
// a temporary file beside path, synced, then renamed into place and the
// directory synced, so path holds either nothing or every byte.
func (f *File) Spool(path string) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("spooling the %s: %w", f.Kind, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("spooling the %s: %w", f.Kind, err)
	}
	n, err := io.Copy(tmp, f.Reader())
	if err != nil {
		return fmt.Errorf("spooling the %s to %s: %w", f.Kind, tmp.Name(), err)
	}
	if n != f.Size {
		return fmt.Errorf("spooling the %s to %s: read %d bytes of %d", f.Kind, tmp.Name(), n, f.Size)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("spooling the %s to %s: %w", f.Kind, tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("spooling the %s to %s: %w", f.Kind, tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("spooling the %s: %w", f.Kind, err)
	}
	return syncDir(dir)
}

// syncDir makes the entries of dir (a rename into it) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}

// Reopen returns a File reading the bytes Spool wrote to path, with the
// metadata (the exported fields) of meta, whose own bytes are not used.
// It fails when the file's size is not meta.Size. Closing the File
// closes path; removing it is the caller's.
func Reopen(path string, meta File) (*File, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reopening the spooled %s: %w", meta.Kind, err)
	}
	fi, err := fd.Stat()
	if err != nil {
		fd.Close()
		return nil, fmt.Errorf("reopening the spooled %s: %w", meta.Kind, err)
	}
	if fi.Size() != meta.Size {
		fd.Close()
		return nil, fmt.Errorf("reopening the spooled %s: %s holds %d bytes, want %d", meta.Kind, path, fi.Size(), meta.Size)
	}
	f := meta
	f.r, f.closer = fd, fd
	return &f, nil
}
