package outbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/sessions"
	"github.com/wad-project/wad/sessions/media"
)

// worker sends one client's queue. The fields but wake are guarded by
// Outbox.mu.
type worker struct {
	client string
	// wake is signalled by the client's state events.
	wake chan struct{}
	// poked is set by Enqueue after a commit: the worker must look at
	// the queue again before it ends.
	poked bool
	// loggedOut is set by a logged_out state event of the client.
	loggedOut bool
}

// kick makes sure a worker sends client's queue while Run runs.
func (o *Outbox) kick(client string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.run == nil {
		return
	}
	if w := o.workers[client]; w != nil {
		w.poked = true
		return
	}
	o.startLocked(client)
}

// startLocked starts client's worker unless it runs. o.mu is held and
// o.run set.
func (o *Outbox) startLocked(client string) {
	if o.workers[client] != nil {
		return
	}
	w := &worker{client: client, wake: make(chan struct{}, 1)}
	o.workers[client] = w
	o.wg.Add(1)
	go o.work(o.run, w)
}

// work sends w's client's queue, oldest first, until it is empty or ctx
// ends.
func (o *Outbox) work(ctx context.Context, w *worker) {
	defer o.wg.Done()
	defer func() {
		o.mu.Lock()
		if o.workers[w.client] == w {
			delete(o.workers, w.client)
		}
		o.mu.Unlock()
	}()
	log := o.log.With("client", w.client)
	for ctx.Err() == nil {
		o.mu.Lock()
		w.poked = false
		o.mu.Unlock()
		e, err := o.oldest(ctx, w.client)
		if err != nil {
			if ctx.Err() == nil {
				log.Error("outbox worker cannot read its queue", "err", err)
				sleep(ctx, o.retryBase)
			}
			continue
		}
		if e == nil {
			o.mu.Lock()
			if !w.poked {
				delete(o.workers, w.client)
				o.mu.Unlock()
				return
			}
			o.mu.Unlock()
			continue
		}
		if e.err != nil {
			o.fail(ctx, e, ctl.FailRejected, ctl.CodeInternal, e.err.Error(), e.st.Attempts)
			continue
		}
		if o.connected(ctx, w) {
			o.send(ctx, w, e)
		}
	}
}

// connected waits until w's client's session is connected and reports
// so. It reports false when ctx ends, and when the session is logged out
// or gone, after failing the client's queue.
func (o *Outbox) connected(ctx context.Context, w *worker) bool {
	for {
		o.mu.Lock()
		out := w.loggedOut
		w.loggedOut = false
		o.mu.Unlock()
		sess, err := o.reg.Get(w.client)
		var grace time.Duration
		switch {
		case out || err == nil && sess.State == ctl.StateLoggedOut:
			o.failQueue(ctx, w.client, "the session was logged out before the message was sent")
			return false
		case err == nil:
			o.mu.Lock()
			o.seen[w.client] = true
			o.mu.Unlock()
			if sess.State == ctl.StateConnected {
				return true
			}
		case errors.Is(err, ctl.ErrNotFound):
			if grace = o.absent(w.client); grace <= 0 {
				o.failQueue(ctx, w.client, "the session is gone (logged out) before the message was sent")
				return false
			}
		default:
			o.failQueue(ctx, w.client, err.Error())
			return false
		}
		if !o.await(ctx, w, grace) {
			return false
		}
	}
}

// await waits for a state event of w's client, or for d when d > 0; it
// reports false when ctx ends first.
func (o *Outbox) await(ctx context.Context, w *worker, d time.Duration) bool {
	var timeout <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-w.wake:
	case <-timeout:
	case <-ctx.Done():
		return false
	}
	return true
}

// absent returns how much longer a worker waits for client's session to
// appear: none once it was seen (it was logged out and removed), else
// what is left of the restore grace since Run began.
func (o *Outbox) absent(client string) time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.seen[client] {
		return 0
	}
	return o.restoreGrace - time.Since(o.runStart)
}

// follow hands each event of tap to handle until ctx ends; what failed
// to read (the event log) is logged as what it was for, and read again.
func (o *Outbox) follow(ctx context.Context, tap *sessions.Subscription, what string, handle func(ctl.Event)) {
	for {
		ev, err := tap.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, sessions.ErrClosed) {
				return
			}
			o.log.Error("outbox cannot follow "+what, "err", err)
			sleep(ctx, time.Second)
			continue
		}
		handle(ev)
	}
}

// stateChanged wakes the worker of a state event's client.
func (o *Outbox) stateChanged(ev ctl.Event) {
	if ev.Session == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seen[ev.Client] = true
	if w := o.workers[ev.Client]; w != nil {
		if ev.Session.State == ctl.StateLoggedOut {
			w.loggedOut = true
		}
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// send paces e, sends it and records the result.
func (o *Outbox) send(ctx context.Context, w *worker, e *entry) {
	cfg := o.cfg.Load()
	p := cfg.For(w.client)
	o.mu.Lock()
	pc := o.pacers[w.client]
	if pc == nil {
		pc = new(pacer)
		o.pacers[w.client] = pc
	}
	o.mu.Unlock()
	if !sleep(ctx, pc.delay(time.Now(), p)) {
		return
	}
	op, text := e.op, ""
	if s, ok := op.(sessions.Send); ok {
		text = s.Text
		if e.media != nil {
			f, err := media.Reopen(o.spoolPath(e.st.ID), *e.media)
			if err != nil {
				o.fail(ctx, e, ctl.FailRejected, ctl.CodeInternal, err.Error(), e.st.Attempts)
				return
			}
			defer f.Close()
			s.Media, text = f, f.Caption
			op = s
		}
	}
	if d := typingTime(text, p); d > 0 {
		if _, err := o.reg.Do(ctx, w.client, sessions.ChatPresence{Chat: e.st.Chat, State: ctl.PresenceTyping}); err != nil {
			o.log.Warn("showing typing before a message failed", "client", w.client, "chat", e.st.Chat, "err", err)
		}
		if !sleep(ctx, d) {
			return
		}
	}
	res, err := o.reg.Do(ctx, w.client, op)
	pc.last = time.Now()
	switch {
	case err == nil:
		o.sent(ctx, e, res)
		return
	case ctx.Err() != nil:
		return // still queued: the next Run sends it again
	}
	ce := ctl.AsError(err)
	n := e.st.Attempts + 1
	switch ce.Code {
	case ctl.CodeSessionNotReady, ctl.CodeSessionNotFound:
		// No attempt: the worker waits for the connection again.
		o.await(ctx, w, notReadyPause)
	case ctl.CodeUpstream, ctl.CodeTimeout, ctl.CodeInternal:
		if n >= cfg.MaxAttempts {
			o.fail(ctx, e, ctl.FailUpstream, ce.Code, ce.Message, n)
			return
		}
		o.attempted(ctx, e, n, ce.Message)
		sleep(ctx, o.backoff(n))
	default:
		o.fail(ctx, e, ctl.FailRejected, ce.Code, ce.Message, n)
	}
}

// backoff is the wait after failed attempt n: retryBase, doubled for
// each attempt before, up to retryMax.
func (o *Outbox) backoff(n int) time.Duration {
	d := o.retryBase
	for i := 1; i < n && d < retryMax; i++ {
		d *= 2
	}
	return min(d, retryMax)
}

// sent records e as sent with the backend's result.
func (o *Outbox) sent(ctx context.Context, e *entry, res any) {
	sr, ok := res.(ctl.SendResult)
	if !ok {
		o.log.Error("backend returned no send result", "client", e.st.Client, "id", e.st.ID, "method", e.st.Method, "result", fmt.Sprintf("%T", res))
	}
	var waID any
	if sr.ID != "" && sr.ID != e.st.ID {
		waID = sr.ID
	}
	now := time.Now().UnixNano()
	o.moveOut(ctx, e, `state = ?, sent = ?, ts = ?, wa_id = ?, attempts = ?, error = '', finished = ?`,
		ctl.OutSent, now, nanos(sr.Timestamp), waID, e.st.Attempts+1, now)
}

// fail records e as failed for reason, with the error (code, msg) of its
// last attempt, after attempts attempts.
func (o *Outbox) fail(ctx context.Context, e *entry, reason string, code int, msg string, attempts int) {
	o.moveOut(ctx, e, `state = ?, reason = ?, code = ?, error = ?, attempts = ?, finished = ?`,
		ctl.OutFailed, reason, code, msg, attempts, time.Now().UnixNano())
}

// moveOut commits e's leaving the queue with set and args, publishes it
// and cleans up after it.
func (o *Outbox) moveOut(ctx context.Context, e *entry, set string, args ...any) {
	o.wmu.Lock()
	st, ok, err := o.finish(context.WithoutCancel(ctx), e.st.ID, set, args...)
	if ok {
		o.publish(st)
	}
	o.wmu.Unlock()
	switch {
	case err != nil:
		o.log.Error("outbox cannot record a message's state", "client", e.st.Client, "id", e.st.ID, "err", err)
	case ok:
		o.left(st)
	}
}

// attempted records a failed attempt n of e, which stays queued.
func (o *Outbox) attempted(ctx context.Context, e *entry, n int, msg string) {
	o.wmu.Lock()
	defer o.wmu.Unlock()
	sts, err := o.updateMany(ctx, `UPDATE outbox SET attempts = ?, error = ? WHERE id = ? AND state = ?`, n, msg, e.st.ID, ctl.OutQueued)
	if err != nil {
		o.log.Error("outbox cannot record an attempt", "client", e.st.Client, "id", e.st.ID, "err", err)
		return
	}
	for _, st := range sts {
		o.publish(st)
	}
}

// failQueue fails every queued message of client with reason
// logged_out.
func (o *Outbox) failQueue(ctx context.Context, client, msg string) {
	o.wmu.Lock()
	sts, err := o.updateMany(context.WithoutCancel(ctx), `UPDATE outbox SET state = ?, reason = ?, code = ?, error = ?, finished = ? WHERE client = ? AND state = ?`,
		ctl.OutFailed, ctl.FailLoggedOut, ctl.CodeSessionNotReady, msg, time.Now().UnixNano(), client, ctl.OutQueued)
	for _, st := range sts {
		o.publish(st)
	}
	o.wmu.Unlock()
	if err != nil {
		o.log.Error("outbox cannot fail a logged-out session's queue", "client", client, "err", err)
	}
	for _, st := range sts {
		o.left(st)
	}
	if len(sts) > 0 {
		o.log.Warn("queued messages failed: "+msg, "client", client, "messages", len(sts))
	}
}
