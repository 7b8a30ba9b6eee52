package chromedp

import "testing"

// Exported for the external tests (socket_test.go), which cannot live in
// this package: they import the daemon, which may import this package.

type FakeWA = fakeWA

func NewFakeWA(t testing.TB) *FakeWA             { return newFakeWA(t) }
func (f *fakeWA) URL(variant string) string      { return f.url(variant) }
func (f *fakeWA) Scan(device string)             { f.scan(device) }
func (f *fakeWA) SentBy(device string) []SentMsg { return f.sentBy(device) }
func (f *fakeWA) LinkedDevices() []string        { return f.linkedDevices() }
func DeviceOf(t testing.TB, qr string) string    { return deviceOf(t, qr) }

type SentMsg = sentMsg
