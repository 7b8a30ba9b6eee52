package whatsmeow

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Name is the backend's name in config and on the wire.
const Name = "whatsmeow"

// DefaultDeviceName is the name the phone shows for a linked wad device
// when the config names none.
const DefaultDeviceName = "wad"

// Config is the [whatsmeow] table of the daemon config.
type Config struct {
	// DeviceName is how the phone lists the linked device (Settings →
	// Linked devices). Empty means DefaultDeviceName.
	DeviceName string `toml:"device_name"`
	// Proxy, if set, is an http://, https:// or socks5:// proxy URL used
	// for the WhatsApp websocket and media. Empty means the environment's
	// https_proxy, as Go's net/http reads it.
	Proxy string `toml:"proxy"`
	// PhoneOfflineAfter is how long the phone may go unseen before a
	// connected session says phone_offline (ctl.ReasonPhoneOffline):
	// WhatsApp unlinks the devices of a phone offline for 14 days. Zero
	// means DefaultPhoneOfflineAfter.
	PhoneOfflineAfter time.Duration `toml:"phone_offline_after"`
}

// DefaultPhoneOfflineAfter warns two days before WhatsApp unlinks the
// devices of a phone that has been offline (14 days), as
// mautrix-whatsapp does.
const DefaultPhoneOfflineAfter = 12 * 24 * time.Hour

// phoneOfflineAfter is PhoneOfflineAfter with its default.
func (c Config) phoneOfflineAfter() time.Duration {
	if c.PhoneOfflineAfter <= 0 {
		return DefaultPhoneOfflineAfter
	}
	return c.PhoneOfflineAfter
}

// Validate reports a config the backend cannot use.
func (c Config) Validate() error {
	if len(c.DeviceName) > 64 || strings.ContainsAny(c.DeviceName, "\x00\n\r") {
		return fmt.Errorf("whatsmeow.device_name must be a single line of at most 64 bytes")
	}
	if c.PhoneOfflineAfter < 0 {
		return fmt.Errorf("whatsmeow.phone_offline_after must not be negative")
	}
	if c.Proxy != "" {
		u, err := url.Parse(c.Proxy)
		if err != nil {
			return fmt.Errorf("whatsmeow.proxy: %w", err)
		}
		switch u.Scheme {
		case "http", "https", "socks5":
		default:
			return fmt.Errorf("whatsmeow.proxy %q: scheme must be http, https or socks5", c.Proxy)
		}
	}
	return nil
}

// Option changes how the backend reaches the network. Tests use them so
// that nothing can reach WhatsApp.
type Option func(*options)

type options struct {
	http *http.Client
	// created sees every session New makes (tests reach sessions by
	// client through it); nil in wad.
	created func(*Backend, *session)
}

// WithHTTPClient makes every whatsmeow client of the backend use hc for
// all its connections (the websocket before and after login, media),
// ignoring the proxy setting. Tests pass one that reaches only a fake
// server.
func WithHTTPClient(hc *http.Client) Option {
	return func(o *options) { o.http = hc }
}
