package daemon

import (
	"context"
	"encoding/json"

	"github.com/wad-project/wad/ctl"
)

// discover serves rpc.discover.
func (d *Daemon) discover(ctx context.Context, c *call, _ ctl.Empty) (json.RawMessage, error) {
	return nil, ctl.Errorf(ctl.CodeInternal, "rpc.discover: not implemented yet")
}
