package daemon

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon/metrics"
	"github.com/wad-project/wad/daemon/webhooks"
	"github.com/wad-project/wad/reaper"
	"github.com/wad-project/wad/sessions"
	"github.com/wad-project/wad/sessions/chromedp"
	"github.com/wad-project/wad/sessions/eventlog"
	"github.com/wad-project/wad/sessions/outbox"
	"github.com/wad-project/wad/sessions/whatsmeow"
)

// Config is wad's configuration. The zero value is not usable; start from
// DefaultConfig or LoadConfig. Every key is documented in
// contrib/wad.toml.
type Config struct {
	// Socket is the control socket path. Ignored when systemd passes a
	// listener.
	Socket string `toml:"socket"`
	// SocketGroup, if set, is the group the socket file is chowned to.
	SocketGroup string `toml:"socket_group"`
	// StateDir holds the sessions' data.
	StateDir string `toml:"state_dir"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `toml:"log_level"`
	// ShutdownTimeout bounds stopping every session on SIGTERM and then
	// answering the requests read.
	ShutdownTimeout Duration `toml:"shutdown_timeout"`
	// MaxRequestBytes bounds one JSON-RPC request line.
	MaxRequestBytes int `toml:"max_request_bytes"`
	// MaxMediaRequestBytes bounds a message.send line, which may carry a
	// file as base64 (larger files go by descriptor).
	MaxMediaRequestBytes int `toml:"max_media_request_bytes"`

	Sessions  SessionsConfig    `toml:"sessions"`
	Events    EventsConfig      `toml:"events"`
	Outbox    outbox.Config     `toml:"outbox"`
	Webhooks  []webhooks.Config `toml:"webhooks"`
	Metrics   MetricsConfig     `toml:"metrics"`
	Whatsmeow whatsmeow.Config  `toml:"whatsmeow"`
	Chromedp  chromedp.Config   `toml:"chromedp"`
	Reaper    reaper.Config     `toml:"reaper"`
	Access    []AccessRule      `toml:"access"`
}

// SessionsConfig is the [sessions] table.
type SessionsConfig struct {
	DefaultBackend string   `toml:"default_backend"`
	MaxSessions    int      `toml:"max_sessions"`
	StartTimeout   Duration `toml:"start_timeout"`
	// CheckBatch numbers go to WhatsApp in one contact.check query, at
	// most one query per CheckInterval and client: bulk lookups get
	// accounts flagged.
	CheckBatch    int      `toml:"check_batch"`
	CheckInterval Duration `toml:"check_interval"`
	// RejectCalls refuses every incoming call, with RejectCallsText (if
	// set) sent to the caller as a message.
	RejectCalls     bool   `toml:"reject_calls"`
	RejectCallsText string `toml:"reject_calls_text"`
}

// MetricsConfig is the [metrics] table.
type MetricsConfig struct {
	// Listen is where Prometheus scrapes /metrics: a Unix socket path
	// (absolute) or a loopback host:port ("127.0.0.1:9464", "[::1]:9464").
	// Empty (the default): no metrics endpoint.
	Listen string `toml:"listen"`
}

// EventsConfig is the [events] table: the event log's retention.
type EventsConfig struct {
	MaxAge   Duration `toml:"max_age"`
	MaxBytes int64    `toml:"max_bytes"`
}

// Duration is a time.Duration written as a Go duration string ("30s").
type Duration = time.Duration

// Defaults.
const (
	DefaultMaxRequestBytes = 1 << 20
	// DefaultMaxMediaRequestBytes fits the largest file WhatsApp accepts
	// for every kind but documents (a 64 MiB video, base64 encoded, with
	// room for the rest of the request); documents up to WhatsApp's 2 GiB
	// go by descriptor.
	DefaultMaxMediaRequestBytes = 96 << 20
	DefaultShutdownTimeout      = 20 * time.Second
	DefaultStartTimeout         = sessions.DefaultStartTimeout
	DefaultBackend              = "whatsmeow"
	DefaultCheckBatch           = 5
	DefaultCheckInterval        = 5 * time.Second
)

// DefaultConfig returns the embedded defaults: paths from the environment
// (systemd's RUNTIME_DIRECTORY/STATE_DIRECTORY first, then the XDG
// variables, then per-user fallbacks), so `wad` runs as any user with no
// config file.
func DefaultConfig() Config {
	return Config{
		Socket:               defaultSocket(),
		StateDir:             defaultStateDir(),
		LogLevel:             "info",
		ShutdownTimeout:      DefaultShutdownTimeout,
		MaxRequestBytes:      DefaultMaxRequestBytes,
		MaxMediaRequestBytes: DefaultMaxMediaRequestBytes,
		Sessions: SessionsConfig{
			DefaultBackend: DefaultBackend,
			StartTimeout:   DefaultStartTimeout,
			CheckBatch:     DefaultCheckBatch,
			CheckInterval:  DefaultCheckInterval,
		},
		Events: EventsConfig{
			MaxAge:   eventlog.DefaultMaxAge,
			MaxBytes: eventlog.DefaultMaxBytes,
		},
		Outbox:   outbox.DefaultConfig(),
		Chromedp: chromedp.Config{Cgroups: chromedp.CgroupsAuto},
	}
}

// firstDir returns the first entry of a systemd directory variable (they
// are colon-separated lists).
func firstDir(env string) string {
	v, _, _ := strings.Cut(os.Getenv(env), ":")
	if filepath.IsAbs(v) {
		return v
	}
	return ""
}

func defaultSocket() string {
	if d := firstDir("RUNTIME_DIRECTORY"); d != "" {
		return filepath.Join(d, "wad.sock")
	}
	return ctl.UserSocket()
}

func defaultStateDir() string {
	if d := firstDir("STATE_DIRECTORY"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "wad")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "wad")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("wad-%d", os.Getuid()), "state")
}

// LoadConfig reads a TOML file over the defaults. Unknown keys are errors
// that name the key and its line; so are bad values (see Validate).
func LoadConfig(path string) (Config, error) {
	cfg := DefaultConfig()
	if path == "" {
		return cfg, cfg.Validate()
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("reading config: %w", err)
	}
	if err := cfg.decode(path, data); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

func (c *Config) decode(path string, data []byte) error {
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return fmt.Errorf("%s:%d: %s", path, pe.Position.Line, pe.Message)
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		var msgs []string
		for _, k := range und {
			msgs = append(msgs, fmt.Sprintf("%s:%d: unknown key %q", path, keyLine(data, k), k.String()))
		}
		return errors.New(strings.Join(msgs, "\n"))
	}
	return nil
}

// keyLine finds the line that defines key k: the line of its last
// component inside the table that holds it. It returns 0 if not found.
func keyLine(data []byte, k toml.Key) int {
	if len(k) == 0 {
		return 0
	}
	table := strings.Join(k[:len(k)-1], ".")
	last := k[len(k)-1]
	cur := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			name := strings.Trim(line, "[] \t")
			if i := strings.Index(name, "#"); i >= 0 {
				name = strings.TrimSpace(strings.Trim(name[:i], "[] \t"))
			}
			cur = name
			if cur == strings.Join(k, ".") {
				return n // an unknown table
			}
			continue
		}
		if cur != table && !strings.HasPrefix(line, last) {
			continue
		}
		name, _, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		name = strings.Trim(strings.TrimSpace(name), `"'`)
		if cur == table && name == last {
			return n
		}
		if cur == "" && name == strings.Join(k, ".") { // dotted key at top level
			return n
		}
	}
	return 0
}

// Validate checks every value and says what is wrong with which key.
func (c *Config) Validate() error {
	var errs []error
	if c.Socket == "" {
		errs = append(errs, errors.New("socket: must not be empty"))
	} else if !filepath.IsAbs(c.Socket) {
		errs = append(errs, fmt.Errorf("socket: %q is not an absolute path", c.Socket))
	} else if len(c.Socket) > ctl.MaxSocketPath {
		errs = append(errs, fmt.Errorf("socket: %q is %d bytes; Unix sockets allow at most %d", c.Socket, len(c.Socket), ctl.MaxSocketPath))
	}
	if c.StateDir == "" || !filepath.IsAbs(c.StateDir) {
		errs = append(errs, fmt.Errorf("state_dir: %q is not an absolute path", c.StateDir))
	} else if filepath.Clean(c.StateDir) == "/" {
		errs = append(errs, errors.New("state_dir: must not be /"))
	}
	if _, err := ParseLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("shutdown_timeout: must be positive"))
	}
	if c.MaxRequestBytes < 4096 {
		errs = append(errs, fmt.Errorf("max_request_bytes: %d is too small (minimum 4096)", c.MaxRequestBytes))
	}
	if c.MaxMediaRequestBytes < c.MaxRequestBytes {
		errs = append(errs, fmt.Errorf("max_media_request_bytes: %d is less than max_request_bytes (%d)", c.MaxMediaRequestBytes, c.MaxRequestBytes))
	}
	if c.Sessions.MaxSessions < 0 {
		errs = append(errs, errors.New("sessions.max_sessions: must be 0 (no limit) or more"))
	}
	if c.Sessions.CheckBatch < 1 || c.Sessions.CheckBatch > 500 {
		errs = append(errs, fmt.Errorf("sessions.check_batch: must be between 1 and 500"))
	}
	if c.Sessions.CheckInterval <= 0 {
		errs = append(errs, fmt.Errorf("sessions.check_interval: must be positive"))
	}
	if c.Sessions.RejectCallsText != "" {
		if err := ctl.ValidateText(c.Sessions.RejectCallsText); err != nil {
			errs = append(errs, fmt.Errorf("sessions.reject_calls_text: %v", err))
		}
	}
	if c.Sessions.StartTimeout <= 0 {
		errs = append(errs, errors.New("sessions.start_timeout: must be positive"))
	}
	if !knownBackend(c.Sessions.DefaultBackend) {
		errs = append(errs, fmt.Errorf("sessions.default_backend: unknown backend %q (known: %s)", c.Sessions.DefaultBackend, strings.Join(BackendNames, ", ")))
	}
	if c.Events.MaxAge < time.Minute {
		errs = append(errs, errors.New("events.max_age: must be at least 1m"))
	}
	if c.Events.MaxBytes < 1<<20 {
		errs = append(errs, errors.New("events.max_bytes: must be at least 1048576 (1 MiB)"))
	}
	if err := metrics.CheckListen(c.Metrics.Listen); err != nil {
		errs = append(errs, err)
	}
	if err := c.Outbox.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := webhooks.ValidateAll(c.Webhooks); err != nil {
		errs = append(errs, err)
	}
	if err := c.Reaper.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Whatsmeow.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Chromedp.ValidateLimits(); err != nil {
		errs = append(errs, err)
	}
	for i := range c.Access {
		if err := c.Access[i].compile(); err != nil {
			errs = append(errs, fmt.Errorf("access[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// ParseLevel turns a log_level value into a slog level.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log_level: %q is not one of debug, info, warn, error", s)
	}
	return l, nil
}
