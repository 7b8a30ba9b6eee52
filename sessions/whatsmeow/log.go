package whatsmeow

import (
	"context"
	"fmt"
	"log/slog"

	signallog "go.mau.fi/libsignal/logger"
	waLog "go.mau.fi/whatsmeow/util/log"
)

// slogAdapter sends whatsmeow's logs to a slog.Logger (which carries the
// client id), with whatsmeow's module path as the "module" attribute.
type slogAdapter struct {
	log    *slog.Logger
	module string
}

var _ waLog.Logger = slogAdapter{}

func newLogger(log *slog.Logger, module string) waLog.Logger {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return slogAdapter{log: log, module: module}
}

func (a slogAdapter) logf(level slog.Level, msg string, args []any) {
	ctx := context.Background()
	if !a.log.Enabled(ctx, level) {
		return
	}
	if len(args) > 0 {
		msg = fmt.Sprintf(msg, args...)
	}
	a.log.Log(ctx, level, msg, "module", a.module)
}

func (a slogAdapter) Errorf(msg string, args ...any) { a.logf(slog.LevelError, msg, args) }
func (a slogAdapter) Warnf(msg string, args ...any)  { a.logf(slog.LevelWarn, msg, args) }
func (a slogAdapter) Infof(msg string, args ...any)  { a.logf(slog.LevelInfo, msg, args) }
func (a slogAdapter) Debugf(msg string, args ...any) { a.logf(slog.LevelDebug, msg, args) }

// Sub returns a logger for a submodule ("Client/Socket").
func (a slogAdapter) Sub(module string) waLog.Logger {
	if a.module != "" {
		module = a.module + "/" + module
	}
	return slogAdapter{log: a.log, module: module}
}

// signalLog receives libsignal's process-wide log: warnings and errors
// go to slog's default logger, the chatty rest is dropped. It is
// installed at init because libsignal installs its own default lazily,
// which races when two sessions make their first keys at once.
type signalLog struct{}

func init() {
	var l signallog.Loggable = signalLog{}
	signallog.Setup(&l)
}

func (signalLog) Debug(caller, msg string) {}
func (signalLog) Info(caller, msg string)  {}
func (signalLog) Warning(caller, msg string) {
	slog.Warn(msg, "module", "libsignal", "caller", caller)
}
func (signalLog) Error(caller, msg string) {
	slog.Error(msg, "module", "libsignal", "caller", caller)
}
func (signalLog) Configure(string) {}
