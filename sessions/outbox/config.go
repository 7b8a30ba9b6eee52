package outbox

import (
	"fmt"
	"sort"
	"time"

	"github.com/wad-project/wad/ctl"
)

// validate checks p, naming its keys under prefix ("outbox.").
func (p Pacing) validate(prefix string) error {
	switch {
	case p.PerMinute < 0:
		return fmt.Errorf("%sper_minute: must not be negative, got %d", prefix, p.PerMinute)
	case p.PerMinute > 0 && p.Burst < 1:
		return fmt.Errorf("%sburst: must be at least 1 when per_minute is set, got %d", prefix, p.Burst)
	case p.Burst < 0:
		return fmt.Errorf("%sburst: must not be negative, got %d", prefix, p.Burst)
	case p.MinDelay < 0:
		return fmt.Errorf("%smin_delay: must not be negative, got %s", prefix, p.MinDelay)
	case p.MaxDelay < p.MinDelay:
		return fmt.Errorf("%smax_delay: %s is less than min_delay %s", prefix, p.MaxDelay, p.MinDelay)
	case p.Typing && p.TypingSpeed < 1:
		return fmt.Errorf("%styping_speed: must be at least 1 character a second when typing is on, got %d", prefix, p.TypingSpeed)
	case p.MaxTyping < 0:
		return fmt.Errorf("%smax_typing: must not be negative, got %s", prefix, p.MaxTyping)
	}
	return nil
}

// Validate checks c and names the key at fault ("outbox.burst",
// "outbox.clients.sales.min_delay").
func (c *Config) Validate() error {
	if err := c.defaults().validate("outbox."); err != nil {
		return err
	}
	if c.MaxAttempts < 1 {
		return fmt.Errorf("outbox.max_attempts: must be at least 1, got %d", c.MaxAttempts)
	}
	if c.Keep < time.Minute {
		return fmt.Errorf("outbox.keep: must be at least 1m, got %s", c.Keep)
	}
	ids := make([]string, 0, len(c.Clients))
	for id := range c.Clients {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if err := ctl.ValidateClientID(id); err != nil {
			return fmt.Errorf("outbox.clients: %w", err)
		}
		if err := c.For(id).validate("outbox.clients." + id + "."); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) defaults() Pacing {
	return Pacing{PerMinute: c.PerMinute, Burst: c.Burst, MinDelay: c.MinDelay, MaxDelay: c.MaxDelay,
		Typing: c.Typing, TypingSpeed: c.TypingSpeed, MaxTyping: c.MaxTyping}
}

// For returns client's pacing: the defaults with its overrides applied.
func (c *Config) For(client string) Pacing {
	p := c.defaults()
	o, ok := c.Clients[client]
	if !ok {
		return p
	}
	set(&p.PerMinute, o.PerMinute)
	set(&p.Burst, o.Burst)
	set(&p.MinDelay, o.MinDelay)
	set(&p.MaxDelay, o.MaxDelay)
	set(&p.Typing, o.Typing)
	set(&p.TypingSpeed, o.TypingSpeed)
	set(&p.MaxTyping, o.MaxTyping)
	return p
}

// set stores *v in dst when v is not nil.
func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}
