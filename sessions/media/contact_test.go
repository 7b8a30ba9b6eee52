package media

import (
	"math"
	"testing"
)

func TestVCard(t *testing.T) {
	for _, tt := range []struct{ name, phone, want string }{
		{"Ada Lovelace", "+4915112345678", "BEGIN:VCARD\n" +
			"VERSION:3.0\n" +
			"N:;Ada Lovelace;;;\n" +
			"FN:Ada Lovelace\n" +
			"TEL;type=CELL;type=VOICE;waid=4915112345678:+4915112345678\n" +
			"END:VCARD"},
		// Escaped per RFC 6350: nothing in a name ends its value, a
		// component or the line.
		{"Doe, John; \\Jr\r\nSecond line\nThird", "+1 (555) 010-9999", "BEGIN:VCARD\n" +
			"VERSION:3.0\n" +
			`N:;Doe\, John\; \\Jr\nSecond line\nThird;;;` + "\n" +
			`FN:Doe\, John\; \\Jr\nSecond line\nThird` + "\n" +
			"TEL;type=CELL;type=VOICE;waid=15550109999:+15550109999\n" +
			"END:VCARD"},
		{"Zoë 🙂", "+33612345678", "BEGIN:VCARD\n" +
			"VERSION:3.0\n" +
			"N:;Zoë 🙂;;;\n" +
			"FN:Zoë 🙂\n" +
			"TEL;type=CELL;type=VOICE;waid=33612345678:+33612345678\n" +
			"END:VCARD"},
	} {
		if got := VCard(tt.name, tt.phone); got != tt.want {
			t.Errorf("VCard(%q, %q) =\n%s\nwant\n%s", tt.name, tt.phone, got, tt.want)
		}
	}
}

func TestValidateLocation(t *testing.T) {
	for _, ok := range [][2]float64{{0, 0}, {90, 180}, {-90, -180}, {52.52, 13.405}} {
		if err := ValidateLocation(ok[0], ok[1]); err != nil {
			t.Errorf("ValidateLocation(%v, %v): %v", ok[0], ok[1], err)
		}
	}
	for _, tt := range []struct {
		lat, lon float64
		want     string
	}{
		{90.0001, 0, "latitude 90.0001 is out of range: want -90 to 90"},
		{-91, 0, "latitude -91 is out of range"},
		{math.NaN(), 0, "latitude NaN is out of range"},
		{math.Inf(1), 0, "latitude +Inf is out of range"},
		{0, 180.5, "longitude 180.5 is out of range: want -180 to 180"},
		{0, -181, "longitude -181 is out of range"},
		{0, math.NaN(), "longitude NaN is out of range"},
		{0, math.Inf(-1), "longitude -Inf is out of range"},
	} {
		wantInvalid(t, ValidateLocation(tt.lat, tt.lon), tt.want)
	}
}
