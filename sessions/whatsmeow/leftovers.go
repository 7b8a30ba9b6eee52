package whatsmeow

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/wad-project/wad/sessions"
)

var _ sessions.Unlinker = (*Backend)(nil)

// unlinkTimeout bounds the unlinking of one left-behind device: connect,
// log in, remove-companion-device.
const unlinkTimeout = 30 * time.Second

// UnlinkLeftovers unlinks from WhatsApp every device in the store the
// reaper moved to dir (a whatsmeow.db left by a daemon that did not log
// its sessions out, in reset mode). Each device logs in once more with
// its own keys and asks WhatsApp to remove it, as session.logout does;
// a device WhatsApp no longer knows (logged out from the phone) is done
// too. The store files are deleted when no device is left in them. It
// returns how many devices it unlinked; an error leaves the devices it
// could not reach in dir for the next start.
func (b *Backend) UnlinkLeftovers(ctx context.Context, dir string) (int, error) {
	path := filepath.Join(dir, DBFile)
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		return 0, removeStoreFiles(path)
	} else if err != nil {
		return 0, err
	}
	log := b.log.With("leftover_store", path)
	db, err := sql.Open("sqlite", path+"?_pragma=foreign_keys(1)&_pragma=busy_timeout("+strconv.Itoa(int(busyTimeout/time.Millisecond))+")")
	if err != nil {
		return 0, fmt.Errorf("opening %s: %w", path, err)
	}
	container := sqlstore.NewWithDB(db, "sqlite3", newLogger(log, "Store"))
	devs, err := container.GetAllDevices(ctx)
	if err != nil {
		db.Close()
		return 0, fmt.Errorf("reading the devices in %s: %w", path, err)
	}
	n := 0
	var errs []error
	for _, dev := range devs {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		dev.Log = newLogger(log, "Device")
		jid := dev.ID.String() // whatsmeow clears dev.ID when it deletes the device
		done, err := b.unlinkDevice(ctx, dev)
		switch {
		case err != nil:
			log.Warn("could not unlink a device left behind; trying again at the next start", "jid", jid, "err", err)
			errs = append(errs, fmt.Errorf("%s: %w", jid, err))
		case done:
			n++
			log.Info("unlinked a device left behind by an unclean shutdown", "jid", jid)
		default:
			log.Info("a device left behind was already unlinked", "jid", jid)
		}
	}
	if err := db.Close(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return n, errors.Join(errs...)
	}
	return n, removeStoreFiles(path)
}

// unlinkDevice logs dev in and removes it upstream, then deletes it from
// its store. It reports false (and no error) when WhatsApp no longer
// knew the device.
func (b *Backend) unlinkDevice(ctx context.Context, dev *store.Device) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, unlinkTimeout)
	defer cancel()
	cli, err := b.newClient(dev, b.log.With("leftover_device", dev.ID.String()))
	if err != nil {
		return false, err
	}
	cli.EnableAutoReconnect = false
	outcome := make(chan any, 4)
	cli.AddEventHandler(func(evt any) {
		switch evt.(type) {
		case *events.Connected, *events.LoggedOut, *events.ConnectFailure, *events.TemporaryBan,
			*events.ClientOutdated, *events.StreamReplaced, *events.Disconnected:
			select {
			case outcome <- evt:
			default:
			}
		}
	})
	// The connection lives on its own context, cancelled after the
	// disconnect (see run.teardown); ctx bounds the waits.
	connCtx, stop := context.WithCancel(context.Background())
	defer stop()
	defer cli.Disconnect()
	defer context.AfterFunc(ctx, func() { cli.Disconnect(); stop() })()
	if err := cli.ConnectContext(connCtx); err != nil {
		return false, fmt.Errorf("connecting: %w", err)
	}
	select {
	case evt := <-outcome:
		switch e := evt.(type) {
		case *events.Connected:
		case *events.LoggedOut:
			// WhatsApp no longer knows it; whatsmeow deleted it.
			return false, nil
		default:
			return false, fmt.Errorf("logging in: %T %v", e, e)
		}
	case <-ctx.Done():
		return false, fmt.Errorf("logging in: %w", ctx.Err())
	}
	if err := unlink(ctx, cli); err != nil {
		return false, err
	}
	cli.Disconnect()
	stop()
	// A fresh struct: dev is still read by the client's handlers.
	if err := dev.Container.DeleteDevice(context.WithoutCancel(ctx), &store.Device{ID: dev.ID}); err != nil {
		return true, fmt.Errorf("unlinked, but deleting it from its store failed: %w", err)
	}
	return true, nil
}

// removeStoreFiles deletes a SQLite database and its WAL files.
func removeStoreFiles(path string) error {
	var errs []error
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
