package main

import (
	"testing"

	"github.com/wad-project/wad/ctl"
)

// Prevents: wactl status showing the /proc estimate (which counts shared
// pages once per process) when the exact cgroup figure is there, or
// nothing when only the estimate is.
func TestMemoryColumnPrefersTheCgroup(t *testing.T) {
	for _, tc := range []struct {
		s    ctl.Session
		want string
	}{
		{ctl.Session{MemoryBytes: 300 << 20, RSSBytes: 900 << 20}, "300.0 MiB"},
		{ctl.Session{RSSBytes: 900 << 20}, "900.0 MiB"},
		{ctl.Session{MemoryBytes: 3 << 29}, "1.5 GiB"},
		{ctl.Session{}, "-"},
	} {
		if got := memory(tc.s); got != tc.want {
			t.Errorf("memory(%+v) = %q, want %q", tc.s, got, tc.want)
		}
	}
}
