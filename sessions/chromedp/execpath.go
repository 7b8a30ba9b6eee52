package chromedp

// ExecPath returns the browser executable a session would start: the
// configured chrome_path (a path, or a name looked up on PATH), or the
// first of DefaultChromeNames on PATH. When there is none it returns a
// ctl.CodeBackendUnavailable error naming every path tried, as Check
// does. wad doctor uses it to run the browser's --version and to try its
// sandbox.
func (c Config) ExecPath() (string, error) { return c.chromePath() }
