package whatsmeow

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"

	wa "go.mau.fi/whatsmeow"
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
}

// Validate reports a config the backend cannot use.
func (c Config) Validate() error {
	if len(c.DeviceName) > 64 || strings.ContainsAny(c.DeviceName, "\x00\n\r") {
		return fmt.Errorf("whatsmeow.device_name must be a single line of at most 64 bytes")
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

// DialFunc opens a network connection, as net.Dialer.DialContext does.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Option changes how the backend reaches the network. Tests use them so
// that nothing can dial WhatsApp.
type Option func(*options)

type options struct {
	dial DialFunc
	// connect and pairPhone stand in for the network round trips in
	// tests (export_test.go); nil means whatsmeow's own.
	connect   func(ctx context.Context, cli *wa.Client) error
	pairPhone func(ctx context.Context, cli *wa.Client, phone string) (string, error)
	// created sees every session New makes (tests reach sessions by
	// client through it); nil in wad.
	created func(*Backend, *session)
}

// WithDialer makes every connection of every session (the websocket
// before and after login, media) go through dial, ignoring any proxy
// setting. A dialer that refuses everything keeps a backend offline.
func WithDialer(dial DialFunc) Option {
	return func(o *options) { o.dial = dial }
}
