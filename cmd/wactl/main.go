// Command wactl controls a running wad daemon over its Unix socket. See
// `wactl help` and README.md.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set by the Makefile from git describe.
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one wactl command line and returns the exit code: 0 on
// success, 1 on an error, 2 on a usage error, 3 when a call did part
// of what was asked (group participants WhatsApp refused, a long check
// interrupted).
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	return a.main(ctx, args)
}
