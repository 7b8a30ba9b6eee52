package webhooks

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/sessions/eventlog"
)

// Defaults of a webhook's delivery settings.
const (
	DefaultTimeout     = 10 * time.Second
	DefaultMaxAttempts = 10
	DefaultBackoff     = time.Second
	DefaultMaxBackoff  = 5 * time.Minute
)

// Config is one [[webhooks]] table of the daemon's configuration.
type Config struct {
	// Name identifies the webhook in status, webhooks.retry and the
	// database, where it keys the delivery cursor: renaming a webhook
	// starts it afresh at the log's head. It defaults to URL and must
	// be unique.
	Name string `toml:"name"`
	// URL is the receiver, an absolute http or https URL.
	URL string `toml:"url"`
	// Clients and Kinds select the events delivered; empty lists match
	// all.
	Clients []string `toml:"clients"`
	Kinds   []string `toml:"kinds"`
	// Secret keys the HMAC-SHA256 signature of every request
	// (webhook-signature): its bytes as written, or, written as
	// "whsec_<base64>" (what Standard Webhooks libraries take), the
	// bytes that base64 encodes.
	Secret string `toml:"secret"`
	// Timeout bounds one attempt, from connecting to reading the answer
	// (default 10s).
	Timeout time.Duration `toml:"timeout"`
	// MaxAttempts is how many failed attempts dead-letter an event
	// (default 10).
	MaxAttempts int `toml:"max_attempts"`
	// Backoff is the delay before the first retry (default 1s); each
	// further retry waits twice as long, up to MaxBackoff (default 5m,
	// or Backoff if that is longer). Each delay is jittered down to as
	// little as half; a 429 or 503 answer's Retry-After, when longer,
	// is waited instead, up to MaxBackoff.
	Backoff    time.Duration `toml:"backoff"`
	MaxBackoff time.Duration `toml:"max_backoff"`
}

// Validate fills c's defaults and checks it.
func (c *Config) Validate() error {
	if c.URL == "" {
		return errors.New("url is required")
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if !u.IsAbs() || u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("url %q: must be absolute, with a scheme and a host", c.URL)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("url %q: scheme must be http or https", c.URL)
	}
	if c.Name == "" {
		c.Name = Redact(c.URL)
	}
	if c.Secret == "" {
		return fmt.Errorf("webhook %q: secret is required: receivers need it to verify that a request comes from wad (webhook-signature)", c.Name)
	}
	if b64, ok := strings.CutPrefix(c.Secret, "whsec_"); ok {
		if k, err := base64.StdEncoding.DecodeString(b64); err != nil || len(k) == 0 {
			return fmt.Errorf("webhook %q: secret: whsec_ is not followed by base64", c.Name)
		}
	}
	for _, id := range c.Clients {
		if err := ctl.ValidateClientID(id); err != nil {
			return fmt.Errorf("webhook %q: clients: %w", c.Name, err)
		}
	}
	for _, k := range c.Kinds {
		if !slices.Contains(ctl.Kinds, k) {
			return fmt.Errorf("webhook %q: kinds: unknown kind %q", c.Name, k)
		}
		if !eventlog.Logged(k) || k == ctl.KindEventsDropped {
			return fmt.Errorf("webhook %q: kinds: %q events are live only, never logged, so never delivered", c.Name, k)
		}
	}
	if c.Timeout < 0 || c.MaxAttempts < 0 || c.Backoff < 0 || c.MaxBackoff < 0 {
		return fmt.Errorf("webhook %q: timeout, max_attempts, backoff and max_backoff must not be negative", c.Name)
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.Backoff == 0 {
		c.Backoff = DefaultBackoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = max(DefaultMaxBackoff, c.Backoff)
	}
	if c.Backoff > c.MaxBackoff {
		return fmt.Errorf("webhook %q: backoff %s exceeds max_backoff %s", c.Name, c.Backoff, c.MaxBackoff)
	}
	return nil
}

// ValidateAll validates each of hooks in place (see Config.Validate) and
// checks that their names are unique.
func ValidateAll(hooks []Config) error {
	seen := make(map[string]bool, len(hooks))
	for i := range hooks {
		if err := hooks[i].Validate(); err != nil {
			return fmt.Errorf("webhooks[%d]: %w", i, err)
		}
		if seen[hooks[i].Name] {
			return fmt.Errorf("webhooks[%d]: duplicate name %q (names default to the url)", i, hooks[i].Name)
		}
		seen[hooks[i].Name] = true
	}
	return nil
}

// Key returns the HMAC key a secret stands for: the bytes a "whsec_"
// secret's base64 encodes, else the secret's own bytes.
func Key(secret string) []byte {
	if b64, ok := strings.CutPrefix(secret, "whsec_"); ok {
		if k, err := base64.StdEncoding.DecodeString(b64); err == nil && len(k) > 0 {
			return k
		}
	}
	return []byte(secret)
}

// Redact returns a webhook URL without its credentials, query and
// fragment, where receivers put their tokens: what status output, logs
// and a webhook's default name show.
func Redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User = nil
	if u.RawQuery != "" {
		u.RawQuery = "…"
	}
	u.Fragment = ""
	return u.String()
}
