package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wad-project/wad/ctl"
)

// The commands of the daemon's event log and webhooks: watch (live, a
// replay with --since, a durable reader with --consumer), webhooks and
// webhooks retry, and the lines of `wactl status` about them.

const watchHelp = `Each line is one event: the time, its place in the daemon's event log
(#SEQ; qr and check_progress events are live only and have none), the
client, the kind and what happened. With --json each event is printed
as it came, one JSON object a line.

Without --since or --consumer, watch prints the events from now on.
--since SEQ first replays the logged events after SEQ (--since 0: the
whole log), then goes on live, with no gap and no duplicate in between.
--consumer NAME makes the watch durable: it starts after the last event
NAME acknowledged (live, the first time) and acknowledges what it
prints (in batches, and at exit), so that the next watch of NAME
resumes where this one stopped. Events printed after the last
acknowledgement may come again. --since, given too, wins over NAME's
position.

The log keeps events for [events] max_age and max_bytes of wad.toml;
events pruned before a watch read them show as one events_dropped line.

examples:
  wactl watch sales --kinds message,receipt
  wactl watch --since 1200
  wactl --json watch --consumer crm-sync | ./import-events
`

const webhooksHelp = `STATE is idle (everything delivered), delivering or retrying (the
receiver failed the last attempt; the next one is scheduled). CURSOR is
the last event the webhook is done with, PENDING the logged events after
it that it delivers, DEAD its dead letters: events given up on after
max_attempts failed attempts, which ` + "`wactl webhooks retry`" + ` delivers again.
Webhooks are configured with [[webhooks]] in wad.toml (a change needs a
restart of wad).
`

const webhookRetryHelp = `NAME is the webhook's name (its url, unless wad.toml names it) as
` + "`wactl webhooks`" + ` lists it, SEQ a dead letter's sequence number as
` + "`wactl webhooks --dead-letters`" + ` lists it. The letters leave the
dead-letter list and go out again ahead of new events, with max_attempts
fresh attempts; failing those, they are dead letters again.
`

// seqFlag is a sequence number flag that knows whether it was given.
type seqFlag struct{ v *uint64 }

func (f *seqFlag) String() string {
	if f == nil || f.v == nil {
		return ""
	}
	return strconv.FormatUint(*f.v, 10)
}

func (f *seqFlag) Set(s string) error {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return errors.New("want a sequence number (0 or more)")
	}
	f.v = &v
	return nil
}

func watchFlags(fs *flag.FlagSet) func(*app, context.Context, []string) error {
	kinds := fs.String("kinds", "", "comma-separated event `KINDS` (default: all): "+strings.Join(ctl.Kinds, ", "))
	var since seqFlag
	fs.Var(&since, "since", "first replay the logged events after `SEQ` (0: the whole log), then go on live")
	consumer := fs.String("consumer", "", "durable reader `NAME`: resume after its last acknowledged event, and acknowledge what is printed")
	return func(a *app, ctx context.Context, args []string) error {
		p := ctl.SubscribeParams{Since: since.v, Consumer: *consumer}
		if len(args) == 1 {
			p.Clients = []string{args[0]}
		}
		if *kinds != "" {
			p.Kinds = strings.Split(*kinds, ",")
		}
		if p.Consumer != "" {
			if err := ctl.ValidateConsumer(p.Consumer); err != nil {
				return usageOf(err)
			}
		}
		return a.watch(ctx, p)
	}
}

// A consumer's acknowledged position lags behind what watch printed by
// at most ackEvery events or ackInterval, and catches up at exit.
const (
	ackEvery    = 100
	ackInterval = time.Second
	// ackTimeout bounds the last acknowledgement, made after the
	// command was interrupted.
	ackTimeout = 5 * time.Second
)

func (a *app) watch(ctx context.Context, p ctl.SubscribeParams) error {
	w, err := a.client.Watch(ctx, p)
	if err != nil {
		return err
	}
	defer w.Close()
	if !a.json {
		switch r := w.Result; {
		case r.Since != nil:
			fmt.Fprintf(a.stderr, "replaying the events after #%d (the log's head is #%d), then live\n", *r.Since, r.Head)
		case p.Consumer != "":
			fmt.Fprintf(a.stderr, "consumer %s is new: watching live after #%d\n", p.Consumer, r.Head)
		}
	}
	// printed is the last seq printed, acked the consumer's position as
	// far as this watch moved it.
	var printed, acked uint64
	unacked := 0
	ack := func(ctx context.Context) error {
		if p.Consumer == "" || printed <= acked {
			return nil
		}
		if _, err := a.client.Ack(ctx, p.Consumer, printed); err != nil {
			return fmt.Errorf("acknowledging #%d for consumer %s: %w", printed, p.Consumer, err)
		}
		acked, unacked = printed, 0
		return nil
	}
	// finish makes the last acknowledgement, on a context of its own:
	// ctx may be what ended the watch.
	finish := func() error {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ackTimeout)
		defer cancel()
		return ack(actx)
	}
	var tick <-chan time.Time
	if p.Consumer != "" {
		t := time.NewTicker(ackInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return finish()
		case <-tick:
			if err := ack(ctx); err != nil && ctx.Err() == nil {
				return err
			}
		case ev, ok := <-w.C:
			if !ok {
				return errors.New("the daemon closed the connection")
			}
			// Events wactl lost before this one (its buffer full) are
			// after every event printed so far: a consumer acknowledges
			// up to there and stops, and its next watch gets them
			// again. (The daemon's own Dropped counts live-only events,
			// which no watch gets again.)
			if n := w.Dropped(); p.Consumer != "" && n > 0 {
				if err := finish(); err != nil {
					return err
				}
				return fmt.Errorf("the watch fell behind and lost %d events after #%d; `wactl watch --consumer %s` resumes there", n, acked, p.Consumer)
			}
			if a.json {
				b, _ := json.Marshal(ev)
				fmt.Fprintln(a.stdout, string(b))
			} else {
				fmt.Fprintln(a.stdout, formatEvent(ev))
			}
			seq := ev.Seq
			if r := ev.EventsDropped; r != nil && r.To > seq {
				seq = r.To
			}
			if seq > printed {
				printed = seq
				unacked++
			}
			if unacked >= ackEvery {
				if err := ack(ctx); err != nil && ctx.Err() == nil {
					return err
				}
			}
		}
	}
}

// plural is "1 event", "2 events".
func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.FormatInt(n, 10) + " " + many
}

// printEventLog prints status's lines about the event log, the
// webhooks and the outbound queues.
func (a *app) printEventLog(st *ctl.StatusResult) {
	if l := st.EventLog; l != nil {
		consumers := plural(int64(l.Consumers), "consumer", "consumers")
		if l.Consumers == 0 {
			consumers = "no consumers"
		}
		if l.Events == 0 {
			fmt.Fprintf(a.stdout, "event log: empty, head #%d, %s\n", l.Head, consumers)
		} else {
			fmt.Fprintf(a.stdout, "event log: %s (%s), oldest #%d, head #%d, %s\n",
				plural(l.Events, "event", "events"), humanSize(l.Bytes), l.Oldest, l.Head, consumers)
		}
	}
	for _, w := range st.Webhooks {
		line := fmt.Sprintf("webhook %s: %s, %d pending, %s", printable(w.Name), webhookState(w),
			w.Pending, plural(int64(w.DeadLetters), "dead letter", "dead letters"))
		if w.LastError != "" && w.State == ctl.WebhookRetrying {
			line += "; last error: " + printable(w.LastError)
		}
		fmt.Fprintln(a.stdout, line)
	}
	if len(st.Queued) > 0 {
		clients := slices.Sorted(maps.Keys(st.Queued))
		parts := make([]string, len(clients))
		for i, c := range clients {
			parts[i] = fmt.Sprintf("%s %d", c, st.Queued[c])
		}
		fmt.Fprintf(a.stdout, "queued to send: %s\n", strings.Join(parts, ", "))
	}
}

// webhookState is a webhook's state, with its attempts and when the
// next one is due while it retries.
func webhookState(w ctl.WebhookStatus) string {
	if w.State != ctl.WebhookRetrying {
		return w.State
	}
	var parts []string
	if w.Attempts > 0 {
		parts = append(parts, plural(int64(w.Attempts), "attempt", "attempts"))
	}
	if !w.NextAttempt.IsZero() {
		parts = append(parts, "next "+w.NextAttempt.Local().Format("15:04:05"))
	}
	if len(parts) == 0 {
		return w.State
	}
	return w.State + " (" + strings.Join(parts, ", ") + ")"
}

func (a *app) webhooks(ctx context.Context, deadLetters bool) error {
	r, done, err := callPrinting[ctl.WebhooksResult](ctx, a, ctl.MethodWebhooks, ctl.WebhooksParams{DeadLetters: deadLetters})
	if done {
		return err
	}
	if len(r.Webhooks) == 0 {
		fmt.Fprintln(a.stdout, "no webhooks (add [[webhooks]] to wad.toml and restart wad)")
		return nil
	}
	if deadLetters {
		a.printDeadLetters(r.Webhooks)
		return nil
	}
	rows := make([][]string, 0, len(r.Webhooks))
	for _, w := range r.Webhooks {
		rows = append(rows, []string{w.Name, w.URL, webhookState(w.WebhookStatus), strconv.FormatUint(w.Cursor, 10),
			strconv.FormatInt(w.Pending, 10), strconv.FormatUint(w.Delivered, 10), strconv.Itoa(w.DeadLetters), w.LastError})
	}
	a.printRows([]string{"NAME", "URL", "STATE", "CURSOR", "PENDING", "DELIVERED", "DEAD", "LAST ERROR"}, []int{7}, rows)
	return nil
}

// printDeadLetters prints a table of dead letters per webhook.
func (a *app) printDeadLetters(list []ctl.WebhookInfo) {
	some := false
	for i, w := range list {
		if i > 0 {
			fmt.Fprintln(a.stdout)
		}
		if len(w.Letters) == 0 {
			fmt.Fprintf(a.stdout, "webhook %s: no dead letters\n", printable(w.Name))
			continue
		}
		some = true
		fmt.Fprintf(a.stdout, "webhook %s: %s\n", printable(w.Name), plural(int64(len(w.Letters)), "dead letter", "dead letters"))
		rows := make([][]string, 0, len(w.Letters))
		for _, l := range w.Letters {
			rows = append(rows, []string{strconv.FormatUint(l.Seq, 10), l.Client, l.Kind, strconv.Itoa(l.Attempts), since(l.Time), l.LastError})
		}
		a.printRows([]string{"SEQ", "CLIENT", "KIND", "ATTEMPTS", "TIME", "LAST ERROR"}, []int{5}, rows)
	}
	if some {
		fmt.Fprintln(a.stdout, "\n`wactl webhooks retry NAME [SEQ]` delivers them again.")
	}
}

func (a *app) webhookRetry(ctx context.Context, args []string) error {
	p := ctl.WebhookRetryParams{Webhook: args[0]}
	if len(args) == 2 {
		seq, err := strconv.ParseUint(args[1], 10, 64)
		if err != nil || seq == 0 {
			return usagef("SEQ %q: want an event's sequence number (as `wactl webhooks --dead-letters` lists them)", args[1])
		}
		p.Seq = seq
	}
	r, done, err := callPrinting[ctl.WebhookRetryResult](ctx, a, ctl.MethodWebhookRetry, p)
	if done {
		return err
	}
	name := printable(p.Webhook)
	switch {
	case r.Queued == 0 && p.Seq != 0:
		fmt.Fprintf(a.stdout, "%s: no dead letter #%d: nothing queued\n", name, p.Seq)
	case r.Queued == 0:
		fmt.Fprintf(a.stdout, "%s: no dead letters: nothing queued\n", name)
	default:
		fmt.Fprintf(a.stdout, "%s: queued %s for delivery again\n", name, plural(int64(r.Queued), "dead letter", "dead letters"))
	}
	return nil
}
