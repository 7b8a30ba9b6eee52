package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"

	"github.com/wad-project/wad/ctl"
)

const schemaHelp = `Prints the OpenRPC document (https://spec.open-rpc.org) of the daemon's
API as rpc.discover returns it: every method with its params, result and
errors, the error codes, and the "event" notification (x-notifications).
Code generators for other languages take it as it is.
`

func schemaFlags(fs *flag.FlagSet) func(*app, context.Context, []string) error {
	offline := fs.Bool("offline", false, "print wactl's own document, of the methods it was built with, without asking the daemon")
	return func(a *app, ctx context.Context, _ []string) error { return a.schema(ctx, *offline) }
}

// schema prints the daemon's OpenRPC document, or with offline the one
// wactl generates for the method table it was built with, as indented
// JSON.
func (a *app) schema(ctx context.Context, offline bool) error {
	var doc ctl.OpenRPC
	var err error
	if offline {
		doc, err = ctl.OpenRPCDocument(ctl.Methods, version)
	} else {
		err = a.client.Call(ctx, ctl.MethodDiscover, nil, &doc)
		if errors.Is(err, ctl.ErrMethodNotFound) {
			return fmt.Errorf("this daemon does not serve %s (it is older than wactl); wactl schema --offline prints wactl's own document", ctl.MethodDiscover)
		}
	}
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := json.Indent(&b, doc, "", "  "); err != nil {
		return fmt.Errorf("the OpenRPC document is not JSON: %w", err)
	}
	b.WriteByte('\n')
	_, err = a.stdout.Write(b.Bytes())
	return err
}
