// Package daemon is the wad server: it loads and validates the TOML
// configuration, opens the control socket (or takes the one systemd
// passes), reads each peer's credentials, serves the JSON-RPC method table
// on one jrpc2 server per connection, pushes subscribed events to their
// connections, talks to systemd (readiness, status, watchdog), and turns
// SIGTERM/SIGINT into a bounded, clean shutdown of every session.
package daemon
