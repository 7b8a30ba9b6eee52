package media

import (
	"math"
	"strings"
)

// VCard returns the vCard 3.0 of a contact shared as a card, written the
// way WhatsApp's phones write one: the name as FN and as N's given name,
// and the number as a cell phone whose waid parameter links the card to
// that WhatsApp account. phone is E.164 ("+4915112345678", as
// ctl.NormalizePhone returns it); only its digits are used. Lines end
// with "\n" and the last has none, as in WhatsApp's cards.
func VCard(name, phone string) string {
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, phone)
	n := escapeText(name)
	return "BEGIN:VCARD\n" +
		"VERSION:3.0\n" +
		"N:;" + n + ";;;\n" +
		"FN:" + n + "\n" +
		"TEL;type=CELL;type=VOICE;waid=" + digits + ":+" + digits + "\n" +
		"END:VCARD"
}

// vcardEscaper escapes a text value (RFC 6350 3.4): backslash, comma,
// semicolon and line breaks, which would otherwise end the value, a
// component or the line.
var vcardEscaper = strings.NewReplacer(
	`\`, `\\`,
	",", `\,`,
	";", `\;`,
	"\r\n", `\n`,
	"\r", `\n`,
	"\n", `\n`,
)

func escapeText(s string) string { return vcardEscaper.Replace(s) }

// ValidateLocation returns an invalid-params error unless lat is a
// latitude (-90 to 90 degrees) and lon a longitude (-180 to 180).
func ValidateLocation(lat, lon float64) error {
	if math.IsNaN(lat) || lat < -90 || lat > 90 {
		return invalid("latitude %v is out of range: want -90 to 90", lat)
	}
	if math.IsNaN(lon) || lon < -180 || lon > 180 {
		return invalid("longitude %v is out of range: want -180 to 180", lon)
	}
	return nil
}
