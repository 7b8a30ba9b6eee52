package whatsmeow

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/store/sqlstore/upgrades"
	"go.mau.fi/whatsmeow/types"
	waLog "go.mau.fi/whatsmeow/util/log"

	_ "modernc.org/sqlite" // registers the "sqlite" driver (no cgo)

	wadstore "github.com/wad-project/wad/internal/store"
)

// Files under the state directory.
const (
	AuthDir  = ".wwebjs_auth"
	DBFile   = "whatsmeow.db"
	LockFile = "whatsmeow.db.lock"
)

// ErrStoreLocked is returned (wrapped, with the lock file's path) by New
// when another process holds the store.
var ErrStoreLocked = errors.New("whatsmeow store is in use by another process")

// busyTimeout is how long a statement waits for another connection's
// write lock before failing with SQLITE_BUSY.
const busyTimeout = 30 * time.Second

// deviceStore is the shared SQLite database: whatsmeow's tables plus ours.
type deviceStore struct {
	path      string
	db        *sql.DB
	wrapped   *dbutil.Database // db as whatsmeow's tables use it
	container *sqlstore.Container
	keysMu    sync.Mutex // serialises prepareKeys
	lock      *os.File
}

const createClientsTable = `CREATE TABLE IF NOT EXISTS wad_whatsmeow_clients (
	client    TEXT PRIMARY KEY,
	jid       TEXT NOT NULL UNIQUE,
	paired_at INTEGER NOT NULL
)`

// openStore creates <stateDir>/.wwebjs_auth (0700) if needed, takes the
// exclusive lock on the sidecar lock file, and opens the database with WAL,
// foreign keys and a busy timeout on every connection. It fails with
// ErrStoreLocked if another process holds the lock.
func openStore(ctx context.Context, stateDir string, log waLog.Logger) (*deviceStore, error) {
	if stateDir == "" {
		return nil, errors.New("whatsmeow: no state directory")
	}
	dir := filepath.Join(stateDir, AuthDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	path := filepath.Join(dir, DBFile)
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("whatsmeow store path %q must not contain '?' or '#'", path)
	}
	lock, err := lockFile(filepath.Join(dir, LockFile))
	if err != nil {
		return nil, err
	}
	s := &deviceStore{path: path, lock: lock}
	if err := s.open(ctx, log); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *deviceStore) open(ctx context.Context, log waLog.Logger) error {
	// modernc.org/sqlite runs each _pragma on every new connection.
	dsn := s.path + "?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)" +
		"&_pragma=busy_timeout(" + strconv.Itoa(int(busyTimeout/time.Millisecond)) + ")&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return fmt.Errorf("opening %s: %w", s.path, err)
	}
	s.db = db
	// Idle connections each keep a page cache; a few suffice. Open
	// connections stay unbounded so a transaction waiting for a second
	// connection can never starve the pool.
	db.SetMaxIdleConns(4)
	db.SetConnMaxIdleTime(5 * time.Minute)
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("opening %s: %w", s.path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("opening %s: journal mode is %q, want wal", s.path, mode)
	}
	if err := os.Chmod(s.path, 0o600); err != nil {
		return fmt.Errorf("opening %s: %w", s.path, err)
	}
	// The dialect name is all dbutil needs: the connection pool is ours.
	if s.wrapped, err = dbutil.NewWithDB(db, "sqlite3"); err != nil {
		return fmt.Errorf("opening %s: %w", s.path, err)
	}
	s.wrapped.UpgradeTable = upgrades.Table
	s.wrapped.VersionTable = "whatsmeow_version"
	s.container = sqlstore.NewWithWrappedDB(s.wrapped, log)
	if err := s.container.Upgrade(ctx); err != nil {
		return fmt.Errorf("upgrading whatsmeow tables in %s: %w", s.path, err)
	}
	if _, err := db.ExecContext(ctx, createClientsTable); err != nil {
		return fmt.Errorf("creating client table in %s: %w", s.path, err)
	}
	return nil
}

// close closes the database and releases the lock. It is safe to call
// more than once.
func (s *deviceStore) close() error {
	var err error
	if s.db != nil {
		err = s.db.Close()
		s.db = nil
	}
	if s.lock != nil {
		// The lock file stays: removing it would let two later daemons
		// lock two different inodes of the same path.
		if cerr := s.lock.Close(); err == nil {
			err = cerr
		}
		s.lock = nil
	}
	return err
}

// lockFile takes an exclusive, non-blocking flock on path (created 0600)
// and writes our pid into it for the error message of the next taker.
func lockFile(path string) (*os.File, error) {
	f, err := wadstore.Lock(path)
	if errors.Is(err, wadstore.ErrLocked) {
		return nil, fmt.Errorf("%w (%w)", err, ErrStoreLocked)
	}
	return f, err
}

// lookup returns the device JID stored for client, if any.
func (s *deviceStore) lookup(ctx context.Context, client string) (types.JID, bool, error) {
	var raw string
	err := s.db.QueryRowContext(ctx, "SELECT jid FROM wad_whatsmeow_clients WHERE client = ?", client).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return types.JID{}, false, nil
	}
	if err != nil {
		return types.JID{}, false, fmt.Errorf("looking up the device of %s: %w", client, err)
	}
	jid, err := types.ParseJID(raw)
	if err != nil {
		return types.JID{}, false, fmt.Errorf("stored device JID %q of %s: %w", raw, client, err)
	}
	return jid, true, nil
}

// remember maps client to the device jid, replacing an older mapping.
func (s *deviceStore) remember(ctx context.Context, client string, jid types.JID) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO wad_whatsmeow_clients (client, jid, paired_at) VALUES (?, ?, ?)
		ON CONFLICT (client) DO UPDATE SET jid = excluded.jid, paired_at = excluded.paired_at`,
		client, jid.String(), time.Now().Unix())
	if err != nil {
		return fmt.Errorf("storing the device of %s: %w", client, err)
	}
	return nil
}

// device returns the stored device of client, or a new unpaired one when
// there is none (a mapping whose device row is gone is dropped).
func (s *deviceStore) device(ctx context.Context, client string) (*store.Device, error) {
	jid, ok, err := s.lookup(ctx, client)
	if err != nil {
		return nil, err
	}
	if ok {
		dev, err := s.container.GetDevice(ctx, jid)
		if err != nil {
			return nil, fmt.Errorf("loading device %s of %s: %w", jid, client, err)
		}
		if dev != nil {
			return dev, nil
		}
		if _, err := s.db.ExecContext(ctx, "DELETE FROM wad_whatsmeow_clients WHERE client = ?", client); err != nil {
			return nil, fmt.Errorf("dropping the stale device of %s: %w", client, err)
		}
	}
	return s.container.NewDevice(), nil
}

// storedDevice returns client's paired device from the store, or nil.
func (s *deviceStore) storedDevice(ctx context.Context, client string) (*store.Device, error) {
	jid, ok, err := s.lookup(ctx, client)
	if err != nil || !ok {
		return nil, err
	}
	dev, err := s.container.GetDevice(ctx, jid)
	if err != nil {
		return nil, fmt.Errorf("loading device %s of %s: %w", jid, client, err)
	}
	return dev, nil
}

// initialPreKeys is how many one-time prekeys whatsmeow uploads after a
// device's first login (prekeys.go, uploadPreKeys).
const initialPreKeys = 812

// prepareKeys generates the prekeys a newly paired device uploads at its
// first login, in one transaction. whatsmeow would insert them one
// statement at a time: 812 commits, which many devices pairing at once
// queue up behind SQLite's single writer for tens of seconds. Call it
// while the device's client is not connected: whatsmeow's own prekey
// code takes its lock before the database's, this the other way round.
//
// One device's keys at a time, and a pause after each: SQLite's busy
// handler polls (the longest sleep between tries is 100 ms), so a writer
// that commits and begins again at once, or devices whose transactions
// follow each other back to back, can starve every other writer past
// busyTimeout. The pause lets them in.
func (s *deviceStore) prepareKeys(ctx context.Context, dev *store.Device) error {
	s.keysMu.Lock()
	defer s.keysMu.Unlock()
	if up, err := dev.PreKeys.UploadedPreKeyCount(ctx); err != nil || up > 0 {
		return err // not a first login: whatsmeow tops up as it needs
	}
	err := s.wrapped.DoTxn(ctx, nil, func(ctx context.Context) error {
		_, err := dev.PreKeys.GetOrGenPreKeys(ctx, initialPreKeys)
		return err
	})
	t := time.NewTimer(writerPause)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return err
}

// writerPause is how long prepareKeys leaves the database to other
// writers after each device: longer than SQLite's longest busy sleep.
const writerPause = 150 * time.Millisecond

// forget deletes client's device row (whatsmeow's per-device tables
// follow through their foreign keys) and its mapping. It reports the JID
// it removed, if any. Forgetting a client with nothing stored is no error.
func (s *deviceStore) forget(ctx context.Context, client string) (types.JID, error) {
	jid, ok, err := s.lookup(ctx, client)
	if err != nil || !ok {
		return types.JID{}, err
	}
	if err := s.container.DeleteDevice(ctx, &store.Device{ID: &jid}); err != nil {
		return jid, fmt.Errorf("deleting device %s of %s: %w", jid, client, err)
	}
	if _, err := s.db.ExecContext(ctx, "DELETE FROM wad_whatsmeow_clients WHERE client = ?", client); err != nil {
		return jid, fmt.Errorf("deleting the mapping of %s: %w", client, err)
	}
	return jid, nil
}

// stored lists the clients whose device row exists, sorted.
func (s *deviceStore) stored(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT c.client FROM wad_whatsmeow_clients c
		JOIN whatsmeow_device d ON d.jid = c.jid ORDER BY c.client`)
	if err != nil {
		return nil, fmt.Errorf("listing stored logins: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, fmt.Errorf("listing stored logins: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
