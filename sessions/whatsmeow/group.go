package whatsmeow

import (
	"context"

	"github.com/wad-project/wad/sessions"
)

// doGroup performs the group operations; ok is false for any other op.
func (s *session) doGroup(ctx context.Context, r *run, op sessions.Op) (res any, ok bool, err error) {
	return nil, false, nil
}

// groupEvent publishes a whatsmeow group event; it reports whether evt
// was one.
func (s *session) groupEvent(r *run, evt any) bool { return false }
