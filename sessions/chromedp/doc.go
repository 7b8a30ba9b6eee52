// Package chromedp is the session backend that drives WhatsApp Web in
// headless Chromium, one browser per client, for parity with
// whatsapp-web.js deployments. It owns the client's Chrome profile
// (<state>/.wwebjs_auth/session-<client>, the whatsapp-web.js LocalAuth
// layout) and guards it with an OS file lock so that no two browsers ever
// share one profile; it launches Chromium bound to the daemon (own process
// group, killed with the daemon), injects a small agent into WhatsApp Web
// that follows the page protocol whatsapp-web.js uses (auth state from
// WAWebSocketModel, QR codes from WAWebConnModel, sending through
// WAWebSendMsgChatAction), and turns crashes of the browser or the page
// into a failed session within two seconds. Logging out, of a running
// session or of a login a crash left behind (UnlinkLeftovers), is
// WhatsApp Web's own in-page logout, which unlinks the device.
package chromedp
