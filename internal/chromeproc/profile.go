package chromeproc

// LoginMarker is the name of the file the chromedp backend keeps inside a
// profile directory while that profile holds a completed WhatsApp Web
// login: written (with the account's JID) when the page reports ready,
// removed when the page shows a QR code, deleted with the profile on
// logout. The chromedp backend restores the profiles that have it (reaper
// preserve mode); the reaper, in reset mode, quarantines them so that the
// daemon can unlink them before they are deleted. Both need the name and
// neither imports the other, so it lives here.
const LoginMarker = "wad-login"
