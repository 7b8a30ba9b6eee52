package webhooks

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/wad-project/wad/ctl"
)

const (
	// batchSize bounds the events one log read returns.
	batchSize = 256
	// maxDrain bounds the answer body read (and discarded) so that the
	// connection can be reused.
	maxDrain = 64 << 10
	// errorPause is the wait after the log or the database failed.
	errorPause = 5 * time.Second
)

// run is h's goroutine: it delivers the retry queue, then the log after
// the cursor, and waits for the log to change when caught up.
func (d *Dispatcher) run(ctx context.Context, h *hook) {
	queued := true // letters queued before a restart
	for ctx.Err() == nil {
		select {
		case <-h.requeued:
			queued = true
		default:
		}
		if queued {
			if err := d.drainQueue(ctx, h); err != nil {
				d.failed(ctx, h, "webhook retry queue", err)
				continue
			}
			queued = false
		}
		changed := d.events.Changed()
		progress, err := d.deliverBatch(ctx, h)
		if err != nil {
			d.failed(ctx, h, "webhook delivery", err)
			continue
		}
		if progress {
			continue
		}
		h.update(func(st *ctl.WebhookStatus) { st.State = ctl.WebhookIdle })
		select {
		case <-ctx.Done():
		case <-changed:
		case <-h.requeued:
			queued = true
		}
	}
}

// failed logs err, unless ctx ended, and waits a while before the run
// loop tries again.
func (d *Dispatcher) failed(ctx context.Context, h *hook, msg string, err error) {
	if ctx.Err() != nil {
		return
	}
	d.log.Error(msg, "webhook", h.cfg.Name, "err", err)
	pause(ctx, errorPause)
}

// deliverBatch delivers one read's worth of events after the cursor
// and reports whether the cursor moved. It stops early when Retry
// queued letters.
func (d *Dispatcher) deliverBatch(ctx context.Context, h *hook) (bool, error) {
	from := h.cursor()
	b, err := d.events.Read(ctx, from, batchSize, h.filter)
	if err != nil {
		return false, err
	}
	if b.Lost != nil {
		d.log.Warn("webhook missed events: retention pruned them before delivery",
			"webhook", h.cfg.Name, "from", b.Lost.From, "to", b.Lost.To)
	}
	for i := range b.Events {
		if len(h.requeued) > 0 {
			return true, nil
		}
		if err := d.deliverEvent(ctx, h, &b.Events[i]); err != nil {
			return false, err
		}
	}
	if b.Through > h.cursor() {
		h.mu.Lock()
		delivered := h.st.Delivered
		h.mu.Unlock()
		if err := d.saveCursor(ctx, h.cfg.Name, b.Through, delivered); err != nil {
			return false, fmt.Errorf("saving webhook %q's cursor: %w", h.cfg.Name, err)
		}
		h.update(func(st *ctl.WebhookStatus) { st.Cursor = b.Through })
	}
	return h.cursor() > from, nil
}

// deliverEvent sends ev until a receiver takes it or it is
// dead-lettered, and moves the cursor past it. It returns an error
// only when ctx ended or the database failed.
func (d *Dispatcher) deliverEvent(ctx context.Context, h *hook, ev *ctl.Event) error {
	ev.Subscription, ev.Dropped = "", 0
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encoding event %d: %w", ev.Seq, err)
	}
	attempts, err := d.send(ctx, h, ev.Seq, body)
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	// An acknowledged event's cursor is written even as ctx ends: else
	// the next run would send it again.
	wctx := context.WithoutCancel(ctx)
	h.mu.Lock()
	delivered := h.st.Delivered
	h.mu.Unlock()
	if err == nil {
		delivered++
		if err := d.saveCursor(wctx, h.cfg.Name, ev.Seq, delivered); err != nil {
			return fmt.Errorf("saving webhook %q's cursor: %w", h.cfg.Name, err)
		}
		h.update(func(st *ctl.WebhookStatus) {
			st.Cursor, st.Delivered = ev.Seq, delivered
			st.Attempts, st.LastError, st.NextAttempt = 0, "", time.Time{}
		})
		return nil
	}
	d.log.Warn("webhook gave up on an event: dead-lettered", "webhook", h.cfg.Name, "seq", ev.Seq,
		"attempts", attempts, "err", err)
	if err := d.storeDeadLetter(wctx, h.cfg.Name, ev, body, attempts, err.Error(), delivered); err != nil {
		return err
	}
	h.update(func(st *ctl.WebhookStatus) {
		st.Cursor = ev.Seq
		st.DeadLetters++
		st.Attempts, st.NextAttempt = 0, time.Time{}
	})
	return nil
}

// drainQueue delivers h's letters that Retry queued, in seq order.
func (d *Dispatcher) drainQueue(ctx context.Context, h *hook) error {
	letters, err := d.requeued(ctx, h.cfg.Name)
	if err != nil {
		return err
	}
	for _, l := range letters {
		attempts, err := d.send(ctx, h, l.seq, l.body)
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		h.mu.Lock()
		delivered := h.st.Delivered
		h.mu.Unlock()
		lastErr := ""
		if err == nil {
			delivered++
		} else {
			lastErr = err.Error()
			d.log.Warn("webhook gave up on a retried event: dead-lettered again", "webhook", h.cfg.Name,
				"seq", l.seq, "attempts", attempts, "err", err)
		}
		if err := d.settle(context.WithoutCancel(ctx), h.cfg.Name, l, delivered, l.attempts+attempts, lastErr); err != nil {
			return err
		}
		h.update(func(st *ctl.WebhookStatus) {
			st.Delivered = delivered
			st.Attempts, st.NextAttempt = 0, time.Time{}
			if err == nil {
				st.LastError = ""
			} else {
				st.DeadLetters++
			}
		})
	}
	return nil
}

// send makes up to MaxAttempts attempts to deliver body, waiting the
// backoff between them. It returns how many it made and nil once a
// receiver took it, the last attempt's error when all failed, and
// ctx's error when ctx ended first.
func (d *Dispatcher) send(ctx context.Context, h *hook, seq uint64, body []byte) (int, error) {
	for n := 1; ; n++ {
		h.update(func(st *ctl.WebhookStatus) {
			st.State, st.Attempts, st.NextAttempt = ctl.WebhookDelivering, n, time.Time{}
		})
		wait, err := d.post(ctx, h, seq, body)
		if err == nil {
			return n, nil
		}
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		d.log.Debug("webhook attempt failed", "webhook", h.cfg.Name, "seq", seq, "attempt", n, "err", err)
		if n >= h.cfg.MaxAttempts {
			h.update(func(st *ctl.WebhookStatus) { st.LastError = err.Error() })
			return n, err
		}
		delay := h.cfg.delay(n, wait)
		h.update(func(st *ctl.WebhookStatus) {
			st.State, st.LastError, st.NextAttempt = ctl.WebhookRetrying, err.Error(), time.Now().Add(delay)
		})
		if !pause(ctx, delay) {
			return n, ctx.Err()
		}
	}
}

// delay returns the wait after the nth failed attempt: Backoff doubled
// per attempt after the first, capped at MaxBackoff, jittered down to
// as little as half; or the receiver's Retry-After when that is longer,
// capped at MaxBackoff too.
func (c *Config) delay(n int, retryAfter time.Duration) time.Duration {
	d := c.Backoff
	for i := 1; i < n && d < c.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.MaxBackoff)
	d = d/2 + rand.N(d/2+1)
	if retryAfter > d {
		d = min(retryAfter, c.MaxBackoff)
	}
	return d
}

// post makes one attempt, signed afresh, and returns nil for a 2xx
// answer; otherwise the error and, from a 429 or 503, the Retry-After
// wait.
func (d *Dispatcher) post(ctx context.Context, h *hook, seq uint64, body []byte) (time.Duration, error) {
	actx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, h.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	id := strconv.FormatUint(seq, 10)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", d.agent)
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", ts)
	req.Header.Set("webhook-signature", Sign(h.cfg.Secret, id, ts, body))
	resp, err := d.client.Do(req)
	if err != nil {
		if ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) {
			return 0, fmt.Errorf("no answer within %s", h.cfg.Timeout)
		}
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return 0, err
	}
	io.CopyN(io.Discard, resp.Body, maxDrain)
	resp.Body.Close()
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return 0, nil
	case code >= 300 && code < 400:
		return 0, fmt.Errorf("status %s: redirects are not followed", resp.Status)
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		return retryAfter(resp.Header.Get("Retry-After")), fmt.Errorf("status %s", resp.Status)
	default:
		return 0, fmt.Errorf("status %s", resp.Status)
	}
}

// retryAfter parses a Retry-After value, seconds or an HTTP date; 0
// when there is none or it is not valid.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// Sign returns the webhook-signature value of a request after the
// Standard Webhooks scheme: "v1," and the base64 (standard encoding)
// HMAC-SHA256, keyed with Key(secret), of id.timestamp.body.
func Sign(secret, id, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, Key(secret))
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
