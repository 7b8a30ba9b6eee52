// Package reaper is wad's startup cleanup, run by `wad reap` as systemd's
// ExecStartPre before the daemon starts (the daemon itself never runs it).
// It owns two jobs on one state directory: killing the stale Chrome/Chromium
// processes whose --user-data-dir lies inside that directory (SIGTERM to the
// browser main processes, SIGKILL after [reaper] kill_timeout to whatever of
// those profiles is left, through pidfds so a reused PID is never hit), and
// clearing the files a restart must not inherit: in mode "reset" (the
// default) .wwebjs_auth and .wwebjs_cache are removed entirely; in mode
// "preserve" the cache and the Singleton* locks of this host's dead browsers
// are removed and the logins are kept. Which processes and locks are ours
// is internal/chromeproc's rule, the one the chromedp backend uses too. It
// never touches a process of another user, profile or state directory,
// never follows a symlink out of the tree it removes, and refuses state
// directories that cannot be ours (/, $HOME, missing, owned by someone
// else). It needs no daemon, socket, network or browser to run.
package reaper
