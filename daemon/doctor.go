package daemon

import (
	"context"

	"github.com/wad-project/wad/ctl"
)

// doctor serves wad.doctor.
func (d *Daemon) doctor(ctx context.Context, c *call, _ ctl.Empty) (ctl.DoctorResult, error) {
	return ctl.DoctorResult{}, ctl.Errorf(ctl.CodeInternal, "wad.doctor: not implemented yet")
}
