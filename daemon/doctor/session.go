package doctor

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/sessions/whatsmeow"
)

// reasonFixes says what to do about each reason a session can have
// (ctl.Reason*); "CLIENT" is replaced by the client id. A test keeps it
// complete.
var reasonFixes = map[string]string{
	ctl.ReasonQRTimeout:         "nobody scanned the QR code in time: run `wactl login CLIENT` and scan it (WhatsApp > Linked devices > Link a device)",
	ctl.ReasonNetwork:           "check that this host reaches WhatsApp (DNS, firewall, [whatsmeow] proxy or a --proxy-server in [chromedp] flags), then `wactl login CLIENT`",
	ctl.ReasonStreamReplaced:    "the same login connected from somewhere else (another wad on a copy of the state directory?): stop the other one, then `wactl login CLIENT`",
	ctl.ReasonClientOutdated:    "WhatsApp refuses this client version: upgrade wad",
	ctl.ReasonLoggedOut:         "the device was unlinked on the phone: log in again with `wactl login CLIENT` and scan the new QR code",
	ctl.ReasonStartTimeout:      "the session did not come up within sessions.start_timeout: check connectivity and `journalctl -u wad -e`, raise start_timeout on a slow host, then `wactl login CLIENT`",
	ctl.ReasonBrowserExited:     "Chromium died: see `journalctl -u wad -e` for why (out of memory?), then `wactl login CLIENT`",
	ctl.ReasonPageCrashed:       "the WhatsApp Web page crashed (often out of memory): check the host's memory, then `wactl login CLIENT`",
	ctl.ReasonBackendError:      "see the message and `journalctl -u wad -e`; `wactl login CLIENT` starts the session again",
	ctl.ReasonShutdown:          "wad stopped it while shutting down: `wactl login CLIENT` resumes it",
	ctl.ReasonStopped:           "stopped with `wactl stop`: `wactl login CLIENT` resumes it",
	ctl.ReasonProfileLocked:     "another browser holds the profile: stop the other wad using this state directory, or `sudo systemctl restart wad` (its reaper kills stale browsers)",
	ctl.ReasonMissingModule:     "WhatsApp Web changed and lacks a module wad needs: upgrade wad, or log in with `wactl login CLIENT --backend whatsmeow`",
	ctl.ReasonBackendNotBuilt:   "the backend cannot run on this host (see the chromium finding): install what it needs, or `wactl login CLIENT --backend whatsmeow`",
	ctl.ReasonConnectionLost:    "the connection dropped and the session reconnects by itself; if it stays disconnected, check this host's connectivity",
	ctl.ReasonLogoutRequested:   "logged out with `wactl logout`: `wactl login CLIENT` links it again",
	ctl.ReasonPairingRejected:   "the phone refused the pairing: `wactl login CLIENT` again (with --phone, check the number) and confirm on the phone",
	ctl.ReasonStoreError:        "the device store failed: see the store finding and `journalctl -u wad -e`, then `wactl login CLIENT`",
	ctl.ReasonTemporarilyBanned: "WhatsApp banned the account for a while: wait until the ban ends (see the message), send less (the [outbox] pacing), then `wactl login CLIENT`",
	ctl.ReasonMainDeviceGone:    "the phone's account is gone (WhatsApp reinstalled, the number moved, the account deleted): log in again with `wactl login CLIENT` from the phone that has the account now",
	ctl.ReasonPhoneOffline:      "the phone has not been online for long: open WhatsApp on the phone, or it may soon unlink this device",
	ctl.ReasonMemoryLimit:       "the browser used more memory than [chromedp] memory_max allows: raise memory_max (or [chromedp.clients.CLIENT] memory_max), then `wactl login CLIENT`",
}

// ReasonFix returns what to do about a session of client with reason,
// or "" for a reason it does not know.
func ReasonFix(client, reason string) string {
	return strings.ReplaceAll(reasonFixes[reason], "CLIENT", client)
}

// Sessions makes one session finding per session: ok when connected (or
// starting), a warning while it waits for the user (qr, pairing), is
// reconnecting or was stopped, and a failure when it failed or was
// logged out; each not ok with the fix for its reason.
func Sessions(ss []ctl.Session) []ctl.Finding {
	var out []ctl.Finding
	for _, s := range ss {
		out = append(out, session(s))
	}
	return out
}

func session(s ctl.Session) ctl.Finding {
	msg := string(s.State)
	if s.Backend != "" {
		msg = s.Backend + ": " + msg
	}
	if s.Reason != "" {
		msg += " (" + s.Reason + ")"
	}
	if s.Message != "" {
		msg += ": " + s.Message
	}
	if !s.Since.IsZero() {
		msg += fmt.Sprintf(", since %s", s.Since.UTC().Format(time.RFC3339))
	}
	fix := ReasonFix(s.Client, s.Reason)
	switch s.State {
	case ctl.StateConnected:
		if s.JID != "" {
			msg += " as " + s.JID
		}
		if s.Reason != "" && fix != "" {
			return warn(ctl.CheckSession, s.Client, msg, fix)
		}
		return ok(ctl.CheckSession, s.Client, msg)
	case ctl.StateStarting:
		return ok(ctl.CheckSession, s.Client, msg)
	case ctl.StateQR:
		return warn(ctl.CheckSession, s.Client, msg+": waiting for the QR code to be scanned",
			fmt.Sprintf("scan the QR code `wactl login %s` shows (WhatsApp > Linked devices > Link a device)", s.Client))
	case ctl.StatePairing:
		return warn(ctl.CheckSession, s.Client, msg+": waiting for the pairing code",
			fmt.Sprintf("enter the code `wactl status %s` shows on the phone (WhatsApp > Linked devices > Link with phone number)", s.Client))
	}
	if fix == "" {
		fix = fmt.Sprintf("`wactl login %s` starts it again", s.Client)
	}
	switch s.State {
	case ctl.StateFailed, ctl.StateLoggedOut:
		if s.State == ctl.StateLoggedOut && s.Reason == ctl.ReasonLogoutRequested {
			return warn(ctl.CheckSession, s.Client, msg, fix)
		}
		return fail(ctl.CheckSession, s.Client, msg, fix)
	}
	return warn(ctl.CheckSession, s.Client, msg, fix)
}

// MaxCompanions is how many devices WhatsApp lets an account link
// besides the phone.
const MaxCompanions = 4

// devicesTimeout bounds asking WhatsApp for one account's devices, and
// devicesBudget all of them.
const (
	devicesTimeout = 10 * time.Second
	devicesBudget  = 30 * time.Second
)

// Devices makes a devices finding for each connected whatsmeow session:
// its account's linked devices (count returns them with the phone)
// against WhatsApp's limit of MaxCompanions, a warning when no room is
// left for another. Sessions whose count is unknown (an error, a
// timeout, or devicesBudget spent) get no finding.
func Devices(ctx context.Context, ss []ctl.Session, count func(context.Context, ctl.Session) (int, error)) []ctl.Finding {
	ctx, cancel := context.WithTimeout(ctx, devicesBudget)
	defer cancel()
	var out []ctl.Finding
	for _, s := range ss {
		if s.State != ctl.StateConnected || s.Backend != whatsmeow.Name || s.JID == "" || ctx.Err() != nil {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, devicesTimeout)
		n, err := count(cctx, s)
		cancel()
		if err != nil || n < 1 {
			continue
		}
		out = append(out, devicesFinding(s.Client, n-1))
	}
	return out
}

func devicesFinding(client string, companions int) ctl.Finding {
	msg := fmt.Sprintf("%d of %d linked devices in use (this one included)", companions, MaxCompanions)
	if companions >= MaxCompanions {
		return warn(ctl.CheckDevices, client, msg+": no room to link another",
			"remove the devices no longer used on the phone (WhatsApp > Linked devices)")
	}
	return ok(ctl.CheckDevices, client, msg)
}

// UserJID turns a session's JID ("491701234567:12@s.whatsapp.net") into
// its account's user JID ("491701234567@s.whatsapp.net").
func UserJID(jid string) string {
	user, server, found := strings.Cut(jid, "@")
	if !found {
		return jid
	}
	user, _, _ = strings.Cut(user, ":")
	user, _, _ = strings.Cut(user, ".") // a legacy agent part
	return user + "@" + server
}
