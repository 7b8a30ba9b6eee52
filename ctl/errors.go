package ctl

import (
	"context"
	"errors"
	"fmt"
)

// Error codes. The standard JSON-RPC 2.0 codes come first; the application
// codes are wad's own and never change meaning.
const (
	CodeParseError     = -32700 // the line is not JSON
	CodeInvalidRequest = -32600 // JSON, but not a JSON-RPC request (or too large)
	CodeMethodNotFound = -32601 // no such method
	CodeInvalidParams  = -32602 // bad or missing params: client id, recipient, phone, text
	CodeInternal       = -32603 // a bug in wad; please report it

	CodeSessionNotFound    = -32000 // no session for that client
	CodePermissionDenied   = -32001 // the caller may not do that
	CodeSessionNotReady    = -32002 // the session is not connected
	CodeBackendUnavailable = -32003 // the backend cannot run (not built, no Chromium, ...)
	CodeUpstream           = -32004 // WhatsApp or the network refused or failed
	CodeTimeout            = -32005 // the operation did not finish in time
	CodeLimitReached       = -32006 // max_sessions or another limit
)

// Error is an error with a wire code. The daemon returns these from its
// handlers (and sends Code and Message as the reply's error object); the
// Client turns every error reply into one, so callers can test them with
// errors.Is against the class sentinels below.
type Error struct {
	Code    int
	Message string
}

func (e *Error) Error() string { return e.Message }

// Is reports whether target is the class sentinel of e's code, or an
// Error with the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && (t.Message == "" || t.Message == e.Message)
}

// Class sentinels, for errors.Is. Each matches every Error with its code.
var (
	ErrInvalidParams  = &Error{Code: CodeInvalidParams}
	ErrMethodNotFound = &Error{Code: CodeMethodNotFound}
	ErrInvalidRequest = &Error{Code: CodeInvalidRequest}
	ErrParse          = &Error{Code: CodeParseError}
	ErrInternal       = &Error{Code: CodeInternal}
	ErrNotFound       = &Error{Code: CodeSessionNotFound}
	ErrPermission     = &Error{Code: CodePermissionDenied}
	ErrNotReady       = &Error{Code: CodeSessionNotReady}
	ErrUnavailable    = &Error{Code: CodeBackendUnavailable}
	ErrUpstream       = &Error{Code: CodeUpstream}
	ErrTimeout        = &Error{Code: CodeTimeout}
	ErrLimit          = &Error{Code: CodeLimitReached}
)

// Errorf returns an Error with code and a formatted message.
func Errorf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// AsError returns err as an *Error: itself if it is (or wraps) one,
// CodeTimeout for context.DeadlineExceeded, and CodeInternal for anything
// else. It returns nil for nil.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		if e.Message == "" || err.Error() == e.Message {
			return e
		}
		return &Error{Code: e.Code, Message: err.Error()}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &Error{Code: CodeTimeout, Message: err.Error()}
	}
	return &Error{Code: CodeInternal, Message: err.Error()}
}
