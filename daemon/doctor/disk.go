package doctor

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/internal/bytesize"
)

// Disk thresholds: a warning below 1 GiB free, or below 10% when that
// is also under 10 GiB; a failure below 200 MiB, or below 2% when that
// is also under 2 GiB (SQLite stops committing when the disk fills, and
// with it the event log and the outbound queue). The percentages alone
// would alarm on large disks with plenty left.
const (
	warnFreeBytes   = 1 << 30
	warnFreePercent = 10
	warnPercentCap  = 10 << 30
	failFreeBytes   = 200 << 20
	failFreePercent = 2
	failPercentCap  = 2 << 30
)

// Disk checks the free space of the file system that holds dir (or its
// nearest existing parent), as available to unprivileged users.
func Disk(dir string) ctl.Finding {
	for {
		if _, err := os.Stat(dir); err == nil || filepath.Dir(dir) == dir {
			break
		}
		dir = filepath.Dir(dir)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return warn(ctl.CheckDisk, "", fmt.Sprintf("%s: %v", dir, err), "check the state directory's file system")
	}
	return diskFinding(dir, st.Bavail*uint64(st.Bsize), st.Blocks*uint64(st.Bsize))
}

func diskFinding(dir string, free, total uint64) ctl.Finding {
	pct := 100.0
	if total > 0 {
		pct = float64(free) * 100 / float64(total)
	}
	msg := fmt.Sprintf("%s: %s free (%.1f%% of %s)", dir, bytesize.Format(free), pct, bytesize.Format(total))
	fix := "free space on that file system: the event log ([events] max_bytes) and the outbox live there; SQLite stops committing when it is full"
	switch {
	case free < failFreeBytes || pct < failFreePercent && free < failPercentCap:
		return fail(ctl.CheckDisk, "", msg, fix)
	case free < warnFreeBytes || pct < warnFreePercent && free < warnPercentCap:
		return warn(ctl.CheckDisk, "", msg, fix)
	}
	return ok(ctl.CheckDisk, "", msg)
}
