package main

import (
	"context"
	"errors"
	"flag"
)

const doctorHelp = ``

func doctorFlags(fs *flag.FlagSet) func(*app, context.Context, []string) error {
	return func(a *app, ctx context.Context, args []string) error {
		return errors.New("doctor: not implemented yet")
	}
}
