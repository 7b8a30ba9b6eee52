package bytesize

import "testing"

func TestFormat(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 1023: "1023 B", 1024: "1 KiB", 1536: "1.5 KiB",
		16 << 20: "16 MiB", 3 << 30: "3 GiB", 1<<40 + 1<<39: "1.5 TiB",
	} {
		if got := Format(n); got != want {
			t.Errorf("Format(%d) = %q, want %q", n, got, want)
		}
	}
	if got := Format(uint64(252 << 30)); got != "252 GiB" {
		t.Errorf("Format(uint64) = %q", got)
	}
}
