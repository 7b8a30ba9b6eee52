// Package contrib holds what ships beside wad rather than inside it: the
// commented example configuration wad.toml (installed as
// /etc/wad/wad.toml; the one documentation of every key), the wactl shell
// completions generated from its command tree (completions/), and example
// clients in Python and Node (examples/) that log a client in and send a
// message or a file (or, in Python, download one) over the socket with
// their standard libraries only. The Go code here is only its tests,
// which keep those files true to the daemon.
package contrib
