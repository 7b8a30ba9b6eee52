package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/wad-project/wad/reaper"
	"github.com/wad-project/wad/sessions"
)

// leftoverTimeout bounds one backend's unlinking of its part of one
// quarantine; what is left is tried again at the next start.
const leftoverTimeout = 2 * time.Minute

// leftoverMaxAge is how long a quarantine is tried: older ones are
// deleted without unlinking (the phone keeps showing those devices).
const leftoverMaxAge = 7 * 24 * time.Hour

// startLeftovers runs unlinkLeftovers in the background and returns a
// channel closed when it is done. It never delays serving.
func (d *Daemon) startLeftovers(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.unlinkLeftovers(ctx)
	}()
	return done
}

// unlinkLeftovers goes through the quarantines the reaper made in reset
// mode (<state>/.wad-unlink/<stamp>/<backend>/), oldest first: each
// backend that is a sessions.Unlinker unlinks its part from WhatsApp and
// deletes it; a quarantine is removed once every part is empty, or
// without unlinking once it is older than leftoverMaxAge. It stops when
// ctx ends (shutdown). It touches nothing outside .wad-unlink and follows
// no symlink there.
func (d *Daemon) unlinkLeftovers(ctx context.Context) {
	root := filepath.Join(d.config().StateDir, reaper.UnlinkDir)
	fi, err := os.Lstat(root)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err == nil && !fi.IsDir() {
		err = errors.New("not a directory")
	}
	if err != nil {
		d.log.Warn("cannot read the logins left behind by an unclean shutdown", "path", root, "err", err)
		return
	}
	ents, err := os.ReadDir(root) // sorted: oldest first
	if err != nil {
		d.log.Warn("cannot read the logins left behind by an unclean shutdown", "path", root, "err", err)
		return
	}
	for _, e := range ents {
		if ctx.Err() != nil {
			return
		}
		if !e.IsDir() {
			d.log.Warn("ignoring an entry that is not a quarantine", "path", filepath.Join(root, e.Name()))
			continue
		}
		d.unlinkQuarantine(ctx, filepath.Join(root, e.Name()))
	}
	// Leave no empty .wad-unlink behind; the reaper makes it again.
	os.Remove(root)
}

// unlinkQuarantine handles one quarantine directory.
func (d *Daemon) unlinkQuarantine(ctx context.Context, q string) {
	log := d.log.With("quarantine", q)
	made, ok := reaper.QuarantineTime(filepath.Base(q))
	if !ok {
		if fi, err := os.Lstat(q); err == nil {
			made = fi.ModTime()
		}
	}
	if age := time.Since(made); age > leftoverMaxAge {
		if err := os.RemoveAll(q); err != nil {
			log.Error("removing an expired quarantine failed", "err", err)
			return
		}
		log.Warn("deleted logins left behind by an unclean shutdown without unlinking them: they could not be unlinked within 7 days; remove those devices on the phone under Settings > Linked devices",
			"since", made.UTC().Format(time.RFC3339))
		return
	}
	for _, b := range d.backends {
		part := filepath.Join(q, b.Name())
		if fi, err := os.Lstat(part); err != nil || !fi.IsDir() {
			continue
		}
		u, ok := b.(sessions.Unlinker)
		if !ok {
			log.Warn("the backend cannot unlink the logins left behind by an unclean shutdown; keeping them for 7 days",
				"backend", b.Name(), "path", part)
			continue
		}
		bctx, cancel := context.WithTimeout(ctx, leftoverTimeout)
		n, err := u.UnlinkLeftovers(bctx, part)
		cancel()
		if n > 0 {
			log.Info(fmt.Sprintf("unlinked %d logins left behind by an unclean shutdown", n), "backend", b.Name(), "unlinked", n)
		}
		if err != nil {
			log.Warn("unlinking logins left behind by an unclean shutdown failed; trying again at the next start",
				"backend", b.Name(), "unlinked", n, "err", err)
		}
		os.Remove(part) // only if the backend emptied it
	}
	if err := os.Remove(q); err == nil {
		log.Info("every login left behind by an unclean shutdown is unlinked or gone; quarantine removed")
	}
}
