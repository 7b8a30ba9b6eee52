package daemon

import (
	"context"
	"sync"

	"github.com/wad-project/wad/ctl"
)

// discoverer binds rpc.discover for a daemon serving spec: it answers
// with the OpenRPC document of exactly those methods (as ctl generates
// it from their types) and this daemon's version, made at the first
// call and kept, since neither changes while the daemon runs.
func (d *Daemon) discoverer(spec []ctl.Method) impl {
	doc := sync.OnceValues(func() (ctl.OpenRPC, error) {
		return ctl.OpenRPCDocument(spec, d.version_)
	})
	return bind(func(context.Context, *call, ctl.Empty) (ctl.OpenRPC, error) {
		b, err := doc()
		if err != nil {
			return nil, ctl.Errorf(ctl.CodeInternal, "rpc.discover: %v", err)
		}
		return b, nil
	})
}
