// Package store owns the daemon's own database, <state>/wad.db: it opens
// it (SQLite through modernc.org/sqlite, no cgo; write-ahead log,
// synchronous=NORMAL, so a commit survives the daemon being killed, not
// a power cut) and applies each component's versioned migrations in
// order, once. The event log, the webhook cursors and the outbound queue
// keep their tables here; each owns its migrations and registers them
// under its own component name.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver (no cgo)
)

// FileName is the database's name in the state directory; LockFile is
// the lock beside it that makes it one daemon's.
const (
	FileName = "wad.db"
	LockFile = FileName + ".lock"
)

// busyTimeout is how long a statement waits for another connection's
// write lock before failing with SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// checkpointEvery is how often the write-ahead log is copied back into
// the database file.
const checkpointEvery = time.Second

// DB is the open database. Its methods are those of *sql.DB, but Close,
// which also stops the checkpoints.
type DB struct {
	*sql.DB
	Path string

	lock      *os.File
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating it, mode 0600) the database at path, locked for
// this process (Lock on path + ".lock": ErrLocked when another holds it).
func Open(ctx context.Context, path string) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	lock, err := Lock(path + ".lock")
	if err != nil {
		return nil, err
	}
	d, err := open(ctx, path)
	if err != nil {
		lock.Close()
		return nil, err
	}
	d.lock = lock
	return d, nil
}

func open(ctx context.Context, path string) (*DB, error) {
	// modernc.org/sqlite runs each _pragma on every new connection;
	// auto_vacuum only takes on a new file (pruning frees pages with
	// PRAGMA incremental_vacuum).
	// No automatic checkpoints: they would run inside whichever commit
	// crosses the threshold, holding up an event append for
	// milliseconds; a goroutine of the DB's runs them instead.
	dsn := path + "?_pragma=auto_vacuum(INCREMENTAL)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=wal_autocheckpoint(0)" +
		"&_pragma=foreign_keys(1)&_pragma=busy_timeout(" + strconv.Itoa(int(busyTimeout/time.Millisecond)) + ")&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	db.SetMaxIdleConns(4)
	db.SetConnMaxIdleTime(5 * time.Minute)
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	if mode != "wal" {
		db.Close()
		return nil, fmt.Errorf("opening %s: journal mode is %q, want wal", path, mode)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_versions (
		component TEXT PRIMARY KEY,
		version   INTEGER NOT NULL)`); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	d := &DB{DB: db, Path: path, stop: make(chan struct{}), done: make(chan struct{})}
	go d.checkpoints()
	return d, nil
}

// checkpoints copies the write-ahead log back into the database every
// checkpointEvery, without waiting for readers (PASSIVE), until Close.
func (d *DB) checkpoints() {
	defer close(d.done)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
			d.Exec("PRAGMA wal_checkpoint(PASSIVE)")
		}
	}
}

// Close stops the checkpoints, checkpoints what is left and truncates the
// write-ahead log, and closes the database. Later calls return the first
// one's result.
func (d *DB) Close() error {
	d.closeOnce.Do(func() {
		close(d.stop)
		<-d.done
		d.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
		d.closeErr = d.DB.Close()
		if d.lock != nil {
			d.lock.Close()
		}
	})
	return d.closeErr
}

// ErrNewer is returned by Migrate when the database was written by a
// newer wad than this one.
var ErrNewer = errors.New("database schema is newer than this wad")

// Migrate brings component's tables to version len(steps): it runs, each
// in a transaction with the version's update, every step after the one
// the database records. Steps are append-only: a released step is never
// edited, a change is a new step.
func (db *DB) Migrate(ctx context.Context, component string, steps []string) error {
	var have int
	err := db.QueryRowContext(ctx, "SELECT version FROM schema_versions WHERE component = ?", component).Scan(&have)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("migrating %s: %w", component, err)
	}
	if have > len(steps) {
		return fmt.Errorf("migrating %s: %w (version %d, this wad knows %d)", component, ErrNewer, have, len(steps))
	}
	for v := have; v < len(steps); v++ {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrating %s to %d: %w", component, v+1, err)
		}
		if _, err := tx.ExecContext(ctx, steps[v]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrating %s to %d: %w", component, v+1, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_versions (component, version) VALUES (?, ?)
			ON CONFLICT (component) DO UPDATE SET version = excluded.version`, component, v+1); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrating %s to %d: %w", component, v+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrating %s to %d: %w", component, v+1, err)
		}
	}
	return nil
}
