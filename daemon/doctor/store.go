package doctor

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver (no cgo)

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/internal/store"
	"github.com/wad-project/wad/sessions/whatsmeow"
)

// storeTimeout bounds one integrity check (a large store on a slow disk).
const storeTimeout = 2 * time.Minute

// StorePaths are the SQLite stores under stateDir: the daemon's wad.db and
// the whatsmeow device store.
func StorePaths(stateDir string) []string {
	return []string{
		filepath.Join(stateDir, store.FileName),
		filepath.Join(stateDir, whatsmeow.AuthDir, whatsmeow.DBFile),
	}
}

// Stores checks each of StorePaths that exists with IntegrityCheck.
func Stores(ctx context.Context, stateDir string) []ctl.Finding {
	var out []ctl.Finding
	for _, p := range StorePaths(stateDir) {
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			out = append(out, ok(ctl.CheckStore, "", p+": not created yet"))
			continue
		}
		out = append(out, IntegrityCheck(ctx, p))
	}
	return out
}

// IntegrityCheck runs PRAGMA integrity_check on the SQLite database at
// path, opened read-only on a connection of its own: what is on disk is
// checked, never what a running daemon's connections have cached. A
// database it cannot read (permissions) is a warning; one SQLite finds
// damaged, or cannot open as a database, is a failure naming the file.
func IntegrityCheck(ctx context.Context, path string) ctl.Finding {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	if f, err := os.Open(path); err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return warn(ctl.CheckStore, "", fmt.Sprintf("%s: not checked: %v", path, err), "run the check as root, or as the user wad runs as")
		}
		return fail(ctl.CheckStore, "", fmt.Sprintf("%s: %v", path, err), "see the state_dir finding")
	} else {
		f.Close()
	}
	u := url.URL{Scheme: "file", Path: path, RawQuery: "mode=ro&_pragma=busy_timeout(10000)"}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return fail(ctl.CheckStore, "", fmt.Sprintf("%s: %v", path, err), damagedFix(path))
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	rows, err := db.QueryContext(ctx, "PRAGMA integrity_check(20)")
	if err != nil {
		return fail(ctl.CheckStore, "", fmt.Sprintf("%s is damaged: %v", path, err), damagedFix(path))
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return fail(ctl.CheckStore, "", fmt.Sprintf("%s is damaged: %v", path, err), damagedFix(path))
		}
		if s != "ok" {
			problems = append(problems, s)
		}
	}
	if err := rows.Err(); err != nil {
		return fail(ctl.CheckStore, "", fmt.Sprintf("%s is damaged: %v", path, err), damagedFix(path))
	}
	if len(problems) > 0 {
		if len(problems) > 3 {
			problems = append(problems[:3], fmt.Sprintf("and %d more", len(problems)-3))
		}
		return fail(ctl.CheckStore, "", fmt.Sprintf("%s is damaged: integrity_check: %s", path, strings.Join(problems, "; ")), damagedFix(path))
	}
	return ok(ctl.CheckStore, "", path+": integrity_check ok")
}

// damagedFix says what to do about a damaged store: what moving it
// aside costs depends on which one it is.
func damagedFix(path string) string {
	lost := "its event log, webhook positions and queued messages are lost"
	if filepath.Base(path) == whatsmeow.DBFile {
		lost = "its whatsmeow logins are lost: each client needs `wactl login` again"
	}
	return fmt.Sprintf("stop wad (sudo systemctl stop wad), then restore %s from a backup, or move it and its -wal and -shm aside (%s), and start wad", path, lost)
}
