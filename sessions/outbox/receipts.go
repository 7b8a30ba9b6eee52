package outbox

import (
	"context"
	"fmt"
	"time"

	"github.com/wad-project/wad/ctl"
)

// receiptStates maps a receipt's type to the state it moves a message to
// and the states it moves it from (those before it). Other types (a
// "sender" receipt, this account's own reads) move nothing.
var receiptStates = map[string]struct {
	to   string
	from []any
}{
	"delivered": {ctl.OutDelivered, []any{ctl.OutSent}},
	"inactive":  {ctl.OutDelivered, []any{ctl.OutSent}},
	"read":      {ctl.OutRead, []any{ctl.OutSent, ctl.OutDelivered}},
	"played":    {ctl.OutPlayed, []any{ctl.OutSent, ctl.OutDelivered, ctl.OutRead}},
}

// receiptCame moves the sent messages a receipt event names on.
func (o *Outbox) receiptCame(ctx context.Context, ev ctl.Event) {
	if ev.Receipt == nil {
		return
	}
	if err := o.receipt(ctx, ev.Client, ev.Receipt); err != nil && ctx.Err() == nil {
		o.log.Error("outbox cannot record a receipt", "client", ev.Client, "err", err)
	}
}

// receipt moves client's messages r names forward, never back: a
// delivered, read or played message keeps its state when an older
// receipt comes late. The times of the states it skips are set too.
func (o *Outbox) receipt(ctx context.Context, client string, r *ctl.Receipt) error {
	rs, ok := receiptStates[r.Type]
	if !ok || len(r.IDs) == 0 {
		return nil
	}
	t := r.Timestamp
	if t.IsZero() {
		t = time.Now()
	}
	at := t.UnixNano()
	set := `state = ?, delivered = CASE WHEN delivered = 0 THEN ? ELSE delivered END`
	args := []any{rs.to, at}
	if rs.to != ctl.OutDelivered {
		set += `, read = CASE WHEN read = 0 THEN ? ELSE read END`
		args = append(args, at)
	}
	args = append(args, client)
	args = append(args, rs.from...)
	ids := make([]any, len(r.IDs))
	for i, id := range r.IDs {
		ids[i] = id
	}
	args = append(append(args, ids...), ids...)
	o.wmu.Lock()
	defer o.wmu.Unlock()
	sts, err := o.updateMany(ctx, `UPDATE outbox SET `+set+` WHERE client = ? AND state IN (`+placeholders(len(rs.from))+`)
		AND (id IN (`+placeholders(len(ids))+`) OR wa_id IN (`+placeholders(len(ids))+`))`, args...)
	if err != nil {
		return fmt.Errorf("recording a %s receipt: %w", r.Type, err)
	}
	for _, st := range sts {
		o.publish(st)
	}
	return nil
}
