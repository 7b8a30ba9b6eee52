package doctor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"syscall"

	"github.com/wad-project/wad/ctl"
)

// StateDir checks the state directory: it exists (a warning when not:
// the daemon creates it), it belongs to u, and its mode lets neither
// group nor others write and others not read (the packaged 0750 and
// the daemon's own 0700 pass). A directory of another owner is a
// failure: the daemon cannot write its stores there.
func StateDir(dir string, u *user.User) ctl.Finding {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return warn(ctl.CheckStateDir, "", fmt.Sprintf("%s does not exist yet", dir),
			"nothing to do: wad creates it at its first start (the package's tmpfiles.d creates /var/lib/wad)")
	}
	if err != nil {
		return fail(ctl.CheckStateDir, "", fmt.Sprintf("%s: %v", dir, err),
			"run the check as root, or as the user wad runs as")
	}
	if !fi.IsDir() {
		return fail(ctl.CheckStateDir, "", fmt.Sprintf("%s is not a directory", dir),
			"move it away, or point state_dir elsewhere")
	}
	st, _ := fi.Sys().(*syscall.Stat_t)
	mode := fi.Mode().Perm()
	owner := fmt.Sprint(st.Uid)
	if ou, err := user.LookupId(owner); err == nil {
		owner = fmt.Sprintf("%s (uid %d)", ou.Username, st.Uid)
	}
	uid, gid := ids(u)
	if uid >= 0 && int(st.Uid) != uid {
		grp := u.Username
		if g, err := user.LookupGroupId(fmt.Sprint(gid)); err == nil {
			grp = g.Name
		}
		return fail(ctl.CheckStateDir, "", fmt.Sprintf("%s belongs to %s, not to %s, the user wad runs as", dir, owner, userName(u)),
			fmt.Sprintf("sudo chown -R %s:%s %s", u.Username, grp, dir))
	}
	if mode&0o022 != 0 || mode&0o004 != 0 {
		return fail(ctl.CheckStateDir, "", fmt.Sprintf("%s has mode %04o: others may read the logins in it, or others than its owner may write it", dir, mode),
			fmt.Sprintf("sudo chmod 0750 %s", dir))
	}
	return ok(ctl.CheckStateDir, "", fmt.Sprintf("%s: owner %s, mode %04o", dir, owner, mode))
}
