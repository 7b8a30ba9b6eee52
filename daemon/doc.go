// Package daemon is the wad server: it loads and validates the TOML
// configuration, opens the control socket (or takes the one systemd
// passes), reads each peer's credentials, serves the JSON-RPC method table
// on one jrpc2 server per connection, pushes subscribed events to their
// connections, talks to systemd (readiness, status, watchdog), and turns
// SIGTERM/SIGINT into a bounded, clean shutdown of every session (in
// reaper mode reset a logout, which unlinks it). In the background it
// unlinks the logins an unclean shutdown left in the reaper's quarantine
// (<state>/.wad-unlink) through the backends that are sessions.Unlinker.
// With [metrics] listen it serves Prometheus metrics (daemon/metrics),
// timing every call in the method table.
package daemon
