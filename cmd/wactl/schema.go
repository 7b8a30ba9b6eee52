package main

import (
	"context"
	"errors"
)

// schema prints the daemon's OpenRPC document.
func (a *app) schema(ctx context.Context, args []string) error {
	return errors.New("schema: not implemented yet")
}
