package ctl

import "time"

// Webhook delivery states (WebhookStatus.State).
const (
	// WebhookIdle: every event up to the log's head is delivered.
	WebhookIdle = "idle"
	// WebhookDelivering: events are on their way.
	WebhookDelivering = "delivering"
	// WebhookRetrying: the receiver failed the last attempt; the next
	// is scheduled (WebhookStatus.NextAttempt).
	WebhookRetrying = "retrying"
)

// WebhookStatus is one configured webhook's delivery state, in
// wad.status and webhooks.list. Cursor is the seq of the last event it
// is done with (delivered with a 2xx, or dead-lettered); Pending counts
// the logged events after it that match its filter, up to the log's head.
type WebhookStatus struct {
	Name        string    `json:"name"`
	URL         string    `json:"url"`
	State       string    `json:"state"`
	Cursor      uint64    `json:"cursor"`
	Pending     int64     `json:"pending"`
	Delivered   uint64    `json:"delivered"`
	Attempts    int       `json:"attempts,omitempty"` // of the event in flight
	LastError   string    `json:"last_error,omitempty"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	DeadLetters int       `json:"dead_letters"`
}

// DeadLetter is an event a webhook gave up on after max_attempts.
type DeadLetter struct {
	Seq       uint64    `json:"seq"`
	Client    string    `json:"client"`
	Kind      string    `json:"kind"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error"`
	Time      time.Time `json:"time"`
}

// WebhooksParams are the params of webhooks.list: DeadLetters asks for
// each webhook's dead letters too.
type WebhooksParams struct {
	DeadLetters bool `json:"dead_letters,omitempty"`
}

// WebhooksResult is the result of webhooks.list.
type WebhooksResult struct {
	Webhooks []WebhookInfo `json:"webhooks"`
}

// WebhookInfo is a webhook's status and, when asked for, its dead
// letters (oldest first).
type WebhookInfo struct {
	WebhookStatus
	Clients []string     `json:"clients,omitempty"`
	Kinds   []string     `json:"kinds,omitempty"`
	Letters []DeadLetter `json:"dead_letter_list,omitempty"`
}

// WebhookRetryParams are the params of webhooks.retry: deliver the named
// webhook's dead letters again (only Seq's when it is set), ahead of
// new events. Retried letters leave the dead-letter list.
type WebhookRetryParams struct {
	Webhook string `json:"webhook"`
	Seq     uint64 `json:"seq,omitempty"`
}

// WebhookRetryResult is the result of webhooks.retry: how many dead
// letters were queued again.
type WebhookRetryResult struct {
	Queued int `json:"queued"`
}
