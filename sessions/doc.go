// Package sessions owns the lifecycle of WhatsApp sessions: the Registry
// that keeps exactly one session per client (with a per-client creation
// lock, so concurrent logins never create two and slow creation never
// blocks other clients), the Session interface the backends implement, the
// Status tracker that enforces the state machine and publishes state and
// QR events, and the event Bus that fans events out to subscribers without
// ever letting a slow one block a session.
package sessions
