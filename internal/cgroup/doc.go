// Package cgroup owns the cgroup subtree systemd delegates to wad
// (Delegate=yes in wad.service): finding it, moving the daemon into a
// leaf of its own, giving each browser a child cgroup with memory and CPU
// limits, reading what each child uses, and noticing when the kernel's
// OOM killer struck inside one. It speaks cgroup v2 (the unified
// hierarchy: memory.max, memory.high, cpu.max, memory.events, cgroup.kill)
// and, for hosts still on v1 or the hybrid layout, the memory, cpu,
// cpuacct and pids hierarchies with their v1 files
// (memory.limit_in_bytes, memory.oom_control, cpu.cfs_quota_us, ...),
// where systemd does not hand the unit's directories to the service
// user: Handover (`wad delegate`, run as root before the daemon) does.
// It never writes outside the subtree it was given, and without one
// (Delegated's error) the daemon runs without limits.
package cgroup
