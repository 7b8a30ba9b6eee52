package cgroup

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// minMemory is the smallest memory limit ParseLimits accepts: below a
// mebibyte no browser starts, so a smaller value is a forgotten suffix.
const minMemory = 1 << 20

// maxMemory bounds a memory size so that it fits every kernel file.
const maxMemory = 1 << 60

// ParseLimits reads the config spellings: memory sizes as bytes with an
// optional K, M, G or T suffix (powers of 1024; "512M", "1.5G"; "MiB"
// and lowercase letters are accepted too), CPU as a percentage of one
// core ("150%") or a number of cores ("1.5"). Empty strings are no limit.
// The error names the setting (memory_max, memory_high, cpu_max) and
// what is wrong with it: an unknown suffix, SI units ("MB"), a size
// below 1M, memory_high above memory_max, a CPU share that is not a
// positive number or below 1% of a core.
func ParseLimits(memoryMax, memoryHigh, cpuMax string) (Limits, error) {
	var l Limits
	var err error
	if l.MemoryMax, err = parseSize(memoryMax); err != nil {
		return Limits{}, fmt.Errorf("memory_max %q: %w", memoryMax, err)
	}
	if l.MemoryHigh, err = parseSize(memoryHigh); err != nil {
		return Limits{}, fmt.Errorf("memory_high %q: %w", memoryHigh, err)
	}
	if l.MemoryMax > 0 && l.MemoryHigh > l.MemoryMax {
		return Limits{}, fmt.Errorf("memory_high %q is above memory_max %q", memoryHigh, memoryMax)
	}
	if l.CPUMax, err = parseCPU(cpuMax); err != nil {
		return Limits{}, fmt.Errorf("cpu_max %q: %w", cpuMax, err)
	}
	return l, nil
}

// parseSize reads "512M", "1.5G", "1048576", "64MiB"; "" is 0.
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = strings.TrimSpace(s[:i]), s[i:]
	}
	if num == "" {
		return 0, fmt.Errorf("not a size (want a number with an optional K, M, G or T suffix)")
	}
	var mult float64
	switch strings.ToUpper(unit) {
	case "", "B":
		mult = 1
	case "K", "KIB":
		mult = 1 << 10
	case "M", "MIB":
		mult = 1 << 20
	case "G", "GIB":
		mult = 1 << 30
	case "T", "TIB":
		mult = 1 << 40
	case "KB", "MB", "GB", "TB":
		return 0, fmt.Errorf("ambiguous unit %q: write %s or %sB (powers of 1024)", unit, unit[:1], unit[:1]+"i")
	default:
		return 0, fmt.Errorf("unknown unit %q (want K, M, G or T: powers of 1024)", unit)
	}
	if mult == 1 && strings.Contains(num, ".") {
		return 0, fmt.Errorf("a fraction of a byte: add a unit (K, M, G or T)")
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("not a size (want a number with an optional K, M, G or T suffix)")
	}
	v := f * mult
	switch {
	case v > maxMemory:
		return 0, fmt.Errorf("too large")
	case v < minMemory:
		return 0, fmt.Errorf("below 1M: no browser runs in that (a missing unit?)")
	}
	return int64(v), nil
}

// parseCPU reads "150%" or "1.5" (cores); "" is 0.
func parseCPU(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	num, pct := strings.CutSuffix(s, "%")
	f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("not a number of cores (\"1.5\") or a percentage of one core (\"150%%\")")
	}
	if pct {
		f /= 100
	}
	switch {
	case f <= 0:
		return 0, fmt.Errorf("must be above zero (leave it empty for no limit)")
	case f < 0.01:
		return 0, fmt.Errorf("below 1%% of a core, the kernel's smallest quota")
	case f > 4096:
		return 0, fmt.Errorf("more than 4096 cores")
	}
	return f, nil
}
