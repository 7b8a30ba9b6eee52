package whatsmeow

import (
	"context"

	"github.com/wad-project/wad/sessions"
)

// doContact performs the contact, chat, profile, presence and call
// operations; ok is false for any other op.
func (s *session) doContact(ctx context.Context, r *run, op sessions.Op) (res any, ok bool, err error) {
	return nil, false, nil
}

// contactEvent publishes a whatsmeow presence, chat state, call, contact
// or account event; it reports whether evt was one.
func (s *session) contactEvent(r *run, evt any) bool { return false }
