// Package chromeproc owns the one rule, shared by the reaper and the
// chromedp backend, for which Chrome/Chromium processes and which
// Singleton* profile locks are ours: it lists processes (through
// github.com/mitchellh/go-ps, reading /proc only for what go-ps does not
// expose: start time, process group, state, real uid, command line,
// executable, working directory, resident size), decides whether a process
// is a live Chrome of our uid whose --user-data-dir resolves within a
// directory (Ours), walks and measures a browser's process tree (Tree,
// TreeRSS), signals processes without hitting a reused pid (Handle,
// KillTree), and judges a profile's SingletonLock the way Chrome does,
// refined to the profile it names (ReadLock, JudgeLock), removing
// Singleton* entries only by path on request (RemoveSingletons). It also
// names the login marker a chromedp profile holds (LoginMarker). It is
// Linux-only, holds no state and never starts a process.
package chromeproc
