// Package reaper is wad's startup cleanup, run by `wad reap` as systemd's
// ExecStartPre before the daemon starts (the daemon itself never runs it).
// It owns two jobs on one state directory: killing the stale Chrome/Chromium
// processes whose --user-data-dir lies inside that directory (SIGTERM to the
// browser main processes, SIGKILL after [reaper] kill_timeout to whatever of
// those profiles is left, through pidfds so a reused PID is never hit), and
// clearing the files a restart must not inherit.
//
// In mode "reset" (the default) .wwebjs_auth and .wwebjs_cache are removed,
// but no login is deleted before WhatsApp is told: a daemon that shut down
// cleanly logged every session out already, and whatever logins are still
// in .wwebjs_auth (a crash left them) are first moved, by rename(2) on the
// same filesystem, into a new quarantine <state>/.wad-unlink/<stamp>/
// (mode 0700): the whatsmeow store (whatsmeow.db and its -wal and -shm) to
// whatsmeow/, every chromedp profile session-<client> holding the login
// marker (chromeproc.LoginMarker) to chromedp/. The daemon unlinks those
// from WhatsApp at its next start (sessions.Unlinker) and deletes them; no
// session ever uses them again. A login that cannot be moved is kept in
// place, with an error, rather than deleted. In mode "preserve" the cache
// and the Singleton* locks of this host's dead browsers are removed and the
// logins are kept.
//
// Which processes and locks are ours is internal/chromeproc's rule, the one
// the chromedp backend uses too. It never touches a process of another
// user, profile or state directory, never follows a symlink out of the tree
// it removes or moves (a symlink is never taken for a login, and a
// quarantine directory that is a symlink or not ours is not used), and
// refuses state directories that cannot be ours (/, $HOME, missing, owned
// by someone else). It needs no daemon, socket, network or browser to run.
package reaper
