package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMigrateRunsEachStepOnceAcrossReopens(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", FileName)
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	steps := []string{
		"CREATE TABLE t (a INTEGER)",
		"INSERT INTO t VALUES (1)",
	}
	if err := db.Migrate(ctx, "test", steps); err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx, "test", steps); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("database file: %v, mode %v; want 0600", err, fi.Mode())
	}

	db, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	steps = append(steps, "INSERT INTO t VALUES (2)")
	if err := db.Migrate(ctx, "test", steps); err != nil {
		t.Fatal(err)
	}
	var n, sum int
	if err := db.QueryRow("SELECT count(*), sum(a) FROM t").Scan(&n, &sum); err != nil {
		t.Fatal(err)
	}
	if n != 2 || sum != 3 {
		t.Fatalf("rows %d, sum %d; want each step once (2 rows, sum 3)", n, sum)
	}
	if err := db.Migrate(ctx, "test", steps[:1]); !errors.Is(err, ErrNewer) {
		t.Fatalf("older wad on a newer schema: %v, want ErrNewer", err)
	}
}

func TestAFailedStepLeavesTheVersionWhereItWas(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx, "c", []string{"CREATE TABLE a (x)", "CREATE TABLE a (x)"}); err == nil {
		t.Fatal("a failing step migrated")
	}
	var v int
	if err := db.QueryRow("SELECT version FROM schema_versions WHERE component = 'c'").Scan(&v); err != nil || v != 1 {
		t.Fatalf("version %d (%v), want 1", v, err)
	}
}

// The DB checkpoints the write-ahead log itself (automatic checkpoints
// are off), and Close leaves it empty.
func TestCheckpointsKeepTheWriteAheadLogShort(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), FileName)
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx, "t", []string{"CREATE TABLE t (b BLOB)"}); err != nil {
		t.Fatal(err)
	}
	var auto int
	if err := db.QueryRow("PRAGMA wal_autocheckpoint").Scan(&auto); err != nil || auto != 0 {
		t.Fatalf("wal_autocheckpoint %d (%v), want 0", auto, err)
	}
	for range 200 {
		if _, err := db.Exec("INSERT INTO t VALUES (zeroblob(8192))"); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var busy, frames, done int
		if err := db.QueryRow("PRAGMA wal_checkpoint(NOOP)").Scan(&busy, &frames, &done); err != nil {
			t.Fatal(err)
		}
		if frames > 0 && done == frames {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30s, %d of %d WAL frames checkpointed", done, frames)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() != 0 {
		t.Fatalf("write-ahead log of %d bytes left after Close", fi.Size())
	}
}

// One daemon's database: a second Open of the same file fails, naming
// the lock and its holder, until the first is closed.
func TestOpenLocksTheDatabase(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), FileName)
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, path); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "pid ") {
		t.Fatalf("second Open: %v, want ErrLocked naming the holder", err)
	}
	db.Close()
	db, err = Open(ctx, path)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	db.Close()
}
