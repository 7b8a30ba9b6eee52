package chromedp

import (
	"errors"
	"fmt"
	"sort"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/internal/cgroup"
)

// ValidateLimits checks the cgroups key and every limit: the defaults
// (memory_max, memory_high, cpu_max) and each [chromedp.clients.<id>]
// override. An error names the key ("chromedp.clients.sales.memory_max:
// ..."). Client ids that no session uses yet are fine; ids no session
// could ever have are not. Limits that are all empty parse nothing.
func (c Config) ValidateLimits() error {
	var errs []error
	switch c.Cgroups {
	case "", CgroupsAuto, CgroupsOff:
	default:
		errs = append(errs, fmt.Errorf("chromedp.cgroups: %q is not one of %s, %s", c.Cgroups, CgroupsAuto, CgroupsOff))
	}
	// Each key alone first, so that the error names it ("chromedp.
	// clients.sales.memory_max ..."), then the keys together (memory_high
	// above memory_max).
	check := func(key, memMax, memHigh, cpuMax string) bool {
		ok := true
		for _, v := range [][3]string{{memMax, "", ""}, {"", memHigh, ""}, {"", "", cpuMax}} {
			if v == [3]string{} {
				continue
			}
			if _, err := cgroup.ParseLimits(v[0], v[1], v[2]); err != nil {
				errs = append(errs, fmt.Errorf("%s.%v", key, err))
				ok = false
			}
		}
		return ok
	}
	if check("chromedp", c.MemoryMax, c.MemoryHigh, c.CPUMax) {
		if _, err := c.Limits(""); err != nil {
			errs = append(errs, fmt.Errorf("chromedp.%v", err))
		}
	}
	for _, id := range c.clientIDs() {
		key := "chromedp.clients." + id
		if err := ctl.ValidateClientID(id); err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", key, err))
			continue
		}
		o := c.Clients[id]
		if check(key, deref(o.MemoryMax), deref(o.MemoryHigh), deref(o.CPUMax)) {
			if _, err := c.Limits(id); err != nil {
				errs = append(errs, fmt.Errorf("%s (over the [chromedp] defaults): %v", key, err))
			}
		}
	}
	return errors.Join(errs...)
}

func (c Config) clientIDs() []string {
	ids := make([]string, 0, len(c.Clients))
	for id := range c.Clients {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// limitSpec returns the limit spellings that apply to client: the
// defaults, with each key its [chromedp.clients.<client>] table sets
// replacing the default (an empty string there lifts that limit).
func (c Config) limitSpec(client string) (memMax, memHigh, cpuMax string) {
	memMax, memHigh, cpuMax = c.MemoryMax, c.MemoryHigh, c.CPUMax
	if o, ok := c.Clients[client]; ok {
		if o.MemoryMax != nil {
			memMax = *o.MemoryMax
		}
		if o.MemoryHigh != nil {
			memHigh = *o.MemoryHigh
		}
		if o.CPUMax != nil {
			cpuMax = *o.CPUMax
		}
	}
	return memMax, memHigh, cpuMax
}

// Limits returns the cgroup limits of client's browser (zero: none).
func (c Config) Limits(client string) (cgroup.Limits, error) {
	memMax, memHigh, cpuMax := c.limitSpec(client)
	if memMax == "" && memHigh == "" && cpuMax == "" {
		return cgroup.Limits{}, nil
	}
	return cgroup.ParseLimits(memMax, memHigh, cpuMax)
}

// LimitsSet reports whether any limit is configured, by default or for
// some client: what a host without cgroups cannot enforce.
func (c Config) LimitsSet() bool {
	if c.MemoryMax != "" || c.MemoryHigh != "" || c.CPUMax != "" {
		return true
	}
	for _, o := range c.Clients {
		if deref(o.MemoryMax) != "" || deref(o.MemoryHigh) != "" || deref(o.CPUMax) != "" {
			return true
		}
	}
	return false
}
