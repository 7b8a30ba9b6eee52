// Package sessions owns the life of WhatsApp sessions. Its Registry keeps
// exactly one session per client and is the only owner of each session's
// lifecycle: it creates sessions under a per-client creation marker,
// runs at most one start, stop or logout per session at a time (logins
// share a start; a stop or logout cancels it first), reserves
// max_sessions slots itself, and refuses everything once closing; closing
// stops every session, or logs every one out (Config.UnlinkOnClose, reaper
// mode reset). The package also defines what a backend implements
// (Backend, Session, the optional Restorer and Unlinker, and one Op type
// per operation a connected session performs), the Status
// tracker that enforces the state machine and publishes state and QR
// events, and the event Bus that fans events out to subscribers without
// ever letting a slow one block a session.
package sessions
