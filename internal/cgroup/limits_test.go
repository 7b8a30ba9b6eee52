package cgroup

import (
	"strings"
	"testing"
)

// TestParseLimits prevents a config spelling being read as another size
// (a forgotten unit read as bytes, "MB" read as 1000²) or nonsense being
// accepted.
func TestParseLimits(t *testing.T) {
	for _, c := range []struct {
		mem, high, cpu string
		want           Limits
	}{
		{"", "", "", Limits{}},
		{"512M", "", "", Limits{MemoryMax: 512 << 20}},
		{"1G", "768M", "150%", Limits{MemoryMax: 1 << 30, MemoryHigh: 768 << 20, CPUMax: 1.5}},
		{"1.5G", "", "1.5", Limits{MemoryMax: 3 << 29, CPUMax: 1.5}},
		{"2097152", "", "0.5", Limits{MemoryMax: 2 << 20, CPUMax: 0.5}},
		{"1GiB", "64mib", "", Limits{MemoryMax: 1 << 30, MemoryHigh: 64 << 20}},
		{"64m", "", " 25% ", Limits{MemoryMax: 64 << 20, CPUMax: 0.25}},
		{"1T", "", "", Limits{MemoryMax: 1 << 40}},
		{"2048K", "", "", Limits{MemoryMax: 2 << 20}},
	} {
		got, err := ParseLimits(c.mem, c.high, c.cpu)
		if err != nil || got != c.want {
			t.Errorf("ParseLimits(%q, %q, %q) = %+v, %v; want %+v", c.mem, c.high, c.cpu, got, err, c.want)
		}
	}
	for _, c := range []struct{ mem, high, cpu, want string }{
		{"512MB", "", "", "ambiguous unit"},
		{"512X", "", "", "unknown unit"},
		{"M", "", "", "not a size"},
		{"1.5", "", "", "fraction of a byte"},
		{"512", "", "", "below 1M"},
		{"-1G", "", "", "not a size"},
		{"1.2.3G", "", "", "not a size"},
		{"9999999T", "", "", "too large"},
		{"1G", "2G", "", "memory_high \"2G\" is above memory_max"},
		{"", "", "0", "above zero"},
		{"", "", "-1", "above zero"},
		{"", "", "0.1%", "below 1%"},
		{"", "", "fast", "cpu_max \"fast\": not a number"},
		{"", "", "NaN", "not a number"},
		{"", "", "150%%", "not a number"},
		{"", "512Q", "", "memory_high \"512Q\""},
	} {
		_, err := ParseLimits(c.mem, c.high, c.cpu)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseLimits(%q, %q, %q) = %v; want an error with %q", c.mem, c.high, c.cpu, err, c.want)
		}
	}
}
