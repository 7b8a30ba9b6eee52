package outbox

import (
	"context"
	"math/rand/v2"
	"time"
	"unicode/utf8"

	"golang.org/x/time/rate"
)

// pacer spaces one client's sends: a token bucket of PerMinute a minute
// holding Burst, and a random pause after each send. It outlives the
// client's workers, so that a queue that empties and fills again is no
// fresh burst. Only the client's worker uses it.
type pacer struct {
	lim  *rate.Limiter
	last time.Time // when the previous send ended
}

// delay reserves the next send under p at now and returns how long to
// wait for it: until the bucket has a token and the random pause after
// the previous send is over, whichever is later.
func (pc *pacer) delay(now time.Time, p Pacing) time.Duration {
	limit, burst := rate.Inf, max(p.Burst, 1)
	if p.PerMinute > 0 {
		limit = rate.Limit(float64(p.PerMinute) / 60)
	}
	if pc.lim == nil {
		pc.lim = rate.NewLimiter(limit, burst)
	} else {
		pc.lim.SetLimitAt(now, limit)
		pc.lim.SetBurstAt(now, burst)
	}
	d := pc.lim.ReserveN(now, 1).DelayFrom(now)
	if !pc.last.IsZero() && p.MaxDelay > 0 {
		pause := p.MinDelay
		if p.MaxDelay > p.MinDelay {
			pause += time.Duration(rand.Int64N(int64(p.MaxDelay-p.MinDelay) + 1))
		}
		d = max(d, pc.last.Add(pause).Sub(now))
	}
	return d
}

// typingTime is how long "typing…" shows before a message of text.
func typingTime(text string, p Pacing) time.Duration {
	if !p.Typing || text == "" || p.TypingSpeed < 1 {
		return 0
	}
	d := time.Duration(utf8.RuneCountInString(text)) * time.Second / time.Duration(p.TypingSpeed)
	return min(d, p.MaxTyping)
}

// sleep waits for d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
