// Package ctl is wad's control contract and its Go client: the JSON-RPC
// method table (names and access classes), the parameter, result and
// event types, the session states and reason codes, the application error
// codes with their errors.Is classes, the validators for client ids and
// recipients, the socket-path rules, and the Client that wactl and Go
// applications use to talk to a running daemon. It imports nothing of the
// daemon, the session backends or the JSON-RPC server, so a program that
// links it stays small. docs/wire.md describes the contract on the wire.
package ctl
