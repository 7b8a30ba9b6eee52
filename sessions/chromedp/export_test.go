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

func (f *fakeWA) DeliverText(device, from, id, body string) { f.deliverText(device, from, id, body) }
func (f *fakeWA) DeliverMedia(device, from, typ, mime, filename, caption string, data []byte) string {
	return f.deliverMedia(device, from, typ, mime, filename, caption, data, "")
}
func (f *fakeWA) LastSent(t testing.TB, device, kind string) SentMsg {
	t.Helper()
	return f.lastSent(t, device, kind)
}

// Uploaded returns the bytes uploaded under a direct path, or nil.
func (f *fakeWA) Uploaded(path string) []byte {
	if m := f.upload(path); m != nil {
		return m.Data
	}
	return nil
}

func PNGFixture(t testing.TB, w, h int) []byte { return testPNG(t, w, h) }
func RandomBytes(n int, seed uint64) []byte    { return randomBytes(n, seed) }

type (
	FakeDirectory = fakeDirectory
	FakeUser      = fakeUser
	FakeInvite    = fakeInvite
)

func (f *fakeWA) SetDirectory(d FakeDirectory)                   { f.setDirectory(d) }
func (f *fakeWA) DeliverItem(device string, item map[string]any) { f.deliverItem(device, item) }
func (f *fakeWA) CountSent(device, kind string) int              { return f.countSent(device, kind) }
