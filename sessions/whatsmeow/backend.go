package whatsmeow

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	wa "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/store"
	"google.golang.org/protobuf/proto"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/sessions"
)

// Backend creates whatsmeow sessions that share one device store. It
// implements sessions.Backend and sessions.Restorer.
type Backend struct {
	cfg  Config
	opts options
	log  *slog.Logger
	st   *deviceStore

	mu     sync.Mutex
	closed bool
}

var (
	_ sessions.Backend  = (*Backend)(nil)
	_ sessions.Restorer = (*Backend)(nil)
)

// deviceNameMu guards whatsmeow's process-wide device properties.
var deviceNameMu sync.Mutex

// New opens (creating if needed) the device store under stateDir and
// returns the backend. It fails if cfg is invalid, if the store cannot be
// opened or upgraded, or with ErrStoreLocked (naming the lock file) if
// another daemon holds the store. It connects to nothing.
func New(ctx context.Context, cfg Config, stateDir string, log *slog.Logger, opts ...Option) (*Backend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.DeviceName == "" {
		cfg.DeviceName = DefaultDeviceName
	}
	b := &Backend{cfg: cfg, log: log}
	for _, o := range opts {
		o(&b.opts)
	}
	st, err := openStore(ctx, stateDir, newLogger(log, "Store"))
	if err != nil {
		return nil, err
	}
	b.st = st
	// The phone shows DeviceProps.Os as the linked device's name; it is
	// process-wide in whatsmeow.
	deviceNameMu.Lock()
	store.DeviceProps.Os = proto.String(cfg.DeviceName)
	deviceNameMu.Unlock()
	log.Debug("whatsmeow store opened", "path", st.path)
	return b, nil
}

// Name returns "whatsmeow".
func (b *Backend) Name() string { return Name }

// Path returns the device store's file.
func (b *Backend) Path() string { return b.st.path }

// New creates the session of one client. It opens nothing that runs on
// its own: the whatsmeow client is made by Start.
func (b *Backend) New(ctx context.Context, env sessions.Env) (sessions.Session, error) {
	if err := ctl.ValidateClientID(env.Client); err != nil {
		return nil, err
	}
	if env.Log == nil {
		env.Log = b.log.With("client", env.Client)
	}
	if env.Backend == "" {
		env.Backend = Name
	}
	if err := b.usable(); err != nil {
		return nil, err
	}
	s := newSession(b, env)
	if b.opts.created != nil {
		b.opts.created(b, s)
	}
	return s, nil
}

// Supports reports whether whatsmeow sessions perform the operation.
func (b *Backend) Supports(method string) bool { return ops[method] }

// Stored returns the clients with a paired device in the store, sorted.
func (b *Backend) Stored(ctx context.Context) ([]string, error) {
	if err := b.usable(); err != nil {
		return nil, err
	}
	return b.st.stored(ctx)
}

// Close closes the store and releases its lock. The registry calls it
// once every session has stopped. Closing twice does nothing.
func (b *Backend) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	return b.st.close()
}

func (b *Backend) usable() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ctl.Errorf(ctl.CodeBackendUnavailable, "the whatsmeow backend is closed")
	}
	return nil
}

// newClient makes a whatsmeow client for dev with our logger and network
// settings.
func (b *Backend) newClient(dev *store.Device, log *slog.Logger) (*wa.Client, error) {
	cli := wa.NewClient(dev, newLogger(log, "Client"))
	cli.EnableAutoReconnect = true
	cli.InitialAutoReconnect = false // a failed first connect is reported, not retried forever
	switch {
	case b.opts.http != nil:
		hc := b.opts.http
		cli.SetPreLoginHTTPClient(hc)
		cli.SetWebsocketHTTPClient(hc)
		cli.SetMediaHTTPClient(hc)
	case b.cfg.Proxy != "":
		if err := cli.SetProxyAddress(b.cfg.Proxy); err != nil {
			return nil, errors.Join(errors.New("whatsmeow.proxy"), err)
		}
	}
	return cli, nil
}
