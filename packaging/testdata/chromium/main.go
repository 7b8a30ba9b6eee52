// Command chromium poses as a stale Chromium in the e2e test: built under
// that name and started with --user-data-dir inside wad's state
// directory, it is what `wad reap` must kill. It ignores its arguments and
// sleeps until signalled (at most ten minutes, so it never outlives a
// test run for long).
package main

import "time"

func main() { time.Sleep(10 * time.Minute) }
