package daemon

import (
	"testing"

	"github.com/wad-project/wad/sessions/chromedp"
)

// Prevents: a reload that changes a browser limit looking applied when
// only a restart applies it (limitsKey must see every key, per client).
func TestLimitsKeySeesEveryLimit(t *testing.T) {
	s := func(v string) *string { return &v }
	base := chromedp.Config{MemoryMax: "1G", Clients: map[string]chromedp.LimitsOverride{"a": {CPUMax: s("50%")}}}
	same := chromedp.Config{MemoryMax: "1G", Clients: map[string]chromedp.LimitsOverride{"a": {CPUMax: s("50%")}}, ChromePath: "/x"}
	if limitsKey(base) != limitsKey(same) {
		t.Errorf("equal limits differ: %s / %s", limitsKey(base), limitsKey(same))
	}
	for _, c := range []chromedp.Config{
		{MemoryMax: "2G", Clients: base.Clients},
		{MemoryMax: "1G", MemoryHigh: "512M", Clients: base.Clients},
		{MemoryMax: "1G", CPUMax: "1", Clients: base.Clients},
		{MemoryMax: "1G", Cgroups: "off", Clients: base.Clients},
		{MemoryMax: "1G", Clients: map[string]chromedp.LimitsOverride{"a": {CPUMax: s("60%")}}},
		{MemoryMax: "1G", Clients: map[string]chromedp.LimitsOverride{"a": {CPUMax: s("50%"), MemoryMax: s("")}}},
		{MemoryMax: "1G", Clients: map[string]chromedp.LimitsOverride{"b": {CPUMax: s("50%")}}},
		{MemoryMax: "1G"},
	} {
		if limitsKey(c) == limitsKey(base) {
			t.Errorf("a change is not seen: %s", limitsKey(c))
		}
	}
}
