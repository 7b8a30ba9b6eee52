package chromedp

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/wad-project/wad/internal/chromeproc"
)

// LoginMarker is the file inside a profile that says its WhatsApp Web
// login was completed. A session writes it (with the account's JID) when
// the page reports ready and removes it when the page shows a QR code,
// which means the login is gone; logging out deletes it with the profile.
// Backend.Stored lists only profiles that have it, so a restart in
// preserve mode resumes real logins, not QR codes nobody scanned; the
// reaper (reset mode) quarantines only profiles that have it, for
// Backend.UnlinkLeftovers. The name is chromeproc's, which the reaper
// shares.
const LoginMarker = chromeproc.LoginMarker

// markLogin records that the profile holds a login of jid.
func (s *Session) markLogin(jid string) {
	path := filepath.Join(s.profile, LoginMarker)
	tmp := path + ".tmp"
	err := os.WriteFile(tmp, []byte(jid+"\n"), 0o600)
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		s.log.Warn("recording the login in the profile failed; a preserve-mode restart will not resume it", "err", err)
	}
}

// clearLogin records that the profile holds no login.
func (s *Session) clearLogin() {
	err := os.Remove(filepath.Join(s.profile, LoginMarker))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Warn("removing the login marker from the profile failed", "err", err)
	}
}

// hasLogin reports whether the profile holds the login marker.
func (s *Session) hasLogin() bool {
	fi, err := os.Lstat(filepath.Join(s.profile, LoginMarker))
	return err == nil && fi.Mode().IsRegular()
}
