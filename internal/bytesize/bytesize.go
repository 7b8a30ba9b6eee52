// Package bytesize spells byte counts for people, in binary units
// ("512 B", "64 MiB", "1.5 GiB"), the one way wad's logs, messages and
// findings show sizes.
package bytesize

import (
	"fmt"
	"strings"
)

// Format spells n with one decimal in the largest binary unit under it,
// without a trailing ".0": 1536 is "1.5 KiB", 64<<20 is "64 MiB".
func Format[N ~int64 | ~uint64](n N) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n)/unit, 0
	names := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	for ; f >= unit && i < len(names)-1; f /= unit {
		i++
	}
	return strings.TrimSuffix(fmt.Sprintf("%.1f", f), ".0") + " " + names[i]
}
