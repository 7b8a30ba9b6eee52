package ctl

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxClientIDLen bounds client ids; they become file names.
const MaxClientIDLen = 64

var clientIDRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidateClientID returns an invalid-params Error unless id matches
// ^[A-Za-z0-9_-]{1,64}$ (whatsapp-web.js's rule, bounded so it is always a
// safe file name).
func ValidateClientID(id string) error {
	if !clientIDRe.MatchString(id) {
		if id == "" {
			return Errorf(CodeInvalidParams, "client id is required")
		}
		return Errorf(CodeInvalidParams, "invalid client id %q: use 1 to %d letters, digits, '_' or '-'", truncate(id, 80), MaxClientIDLen)
	}
	return nil
}

// ValidateConsumer returns an invalid-params Error unless name, an event
// consumer's name, follows the rule of client ids.
func ValidateConsumer(name string) error {
	if !clientIDRe.MatchString(name) {
		return Errorf(CodeInvalidParams, "invalid consumer name %q: use 1 to %d letters, digits, '_' or '-'", truncate(name, 80), MaxClientIDLen)
	}
	return nil
}

// Servers of the WhatsApp JIDs a message can be sent to.
const (
	ServerUser      = "s.whatsapp.net"
	ServerGroup     = "g.us"
	ServerLID       = "lid"
	ServerBroadcast = "broadcast"
	ServerNewslet   = "newsletter"
)

var (
	e164Re = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	// A user JID: digits, optionally ":device" (never for sending, but
	// accepted as whatsmeow prints them). Groups: digits or digits-digits.
	userJIDRe  = regexp.MustCompile(`^[1-9][0-9]{5,19}(?::[0-9]{1,3})?@s\.whatsapp\.net$`)
	groupJIDRe = regexp.MustCompile(`^[0-9]{5,25}(?:-[0-9]{5,15})?@g\.us$`)
	lidJIDRe   = regexp.MustCompile(`^[0-9]{5,25}(?::[0-9]{1,3})?@lid$`)
	bcastRe    = regexp.MustCompile(`^(?:status|[0-9]{5,25})@broadcast$`)
	newsRe     = regexp.MustCompile(`^[0-9]{5,25}@newsletter$`)
	phoneSepRe = regexp.MustCompile(`[\s().-]`)
)

// NormalizePhone returns the E.164 form ("+4915112345678") of a phone
// number written with the usual separators (spaces, dots, dashes,
// parentheses), or an invalid-params Error. The number must start with '+'
// and a country code: wad never guesses a country.
func NormalizePhone(s string) (string, error) {
	p := phoneSepRe.ReplaceAllString(strings.TrimSpace(s), "")
	if strings.HasPrefix(p, "00") {
		p = "+" + p[2:]
	}
	if !e164Re.MatchString(p) {
		if s == "" {
			return "", Errorf(CodeInvalidParams, "phone number is required")
		}
		return "", Errorf(CodeInvalidParams, "invalid phone number %q: use international E.164 form, e.g. +4915112345678", truncate(s, 40))
	}
	return p, nil
}

// ParseRecipient turns the `to` of message.send into a JID string: an
// E.164 number becomes "<digits>@s.whatsapp.net"; a user, group, lid,
// broadcast or newsletter JID is returned as given (device suffixes of user
// JIDs are dropped). Anything else is an invalid-params Error.
func ParseRecipient(to string) (string, error) {
	to = strings.TrimSpace(to)
	switch {
	case to == "":
		return "", Errorf(CodeInvalidParams, "recipient is required: an E.164 number (+4915112345678) or a WhatsApp JID")
	case strings.Contains(to, "@"):
		switch {
		case userJIDRe.MatchString(to), lidJIDRe.MatchString(to):
			user, server, _ := strings.Cut(to, "@")
			user, _, _ = strings.Cut(user, ":")
			return user + "@" + server, nil
		case groupJIDRe.MatchString(to), bcastRe.MatchString(to), newsRe.MatchString(to):
			return to, nil
		}
		return "", Errorf(CodeInvalidParams, "invalid recipient JID %q: want <number>@s.whatsapp.net, <id>@g.us, <id>@lid or <id>@newsletter", truncate(to, 80))
	}
	p, err := NormalizePhone(to)
	if err != nil {
		return "", Errorf(CodeInvalidParams, "invalid recipient %q: want an E.164 number (+4915112345678) or a WhatsApp JID", truncate(to, 80))
	}
	return p[1:] + "@" + ServerUser, nil
}

// MaxTextLen is the longest text message.send accepts, in bytes: WhatsApp
// clients refuse longer ones, and it keeps one request well under the
// 1 MiB request limit.
const MaxTextLen = 65536

// ValidateText returns an invalid-params Error for an empty, whitespace-only
// or over-long text.
func ValidateText(text string) error {
	if strings.TrimSpace(text) == "" {
		return Errorf(CodeInvalidParams, "text is empty")
	}
	if len(text) > MaxTextLen {
		return Errorf(CodeInvalidParams, "text is %d bytes; the limit is %d", len(text), MaxTextLen)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// MaxMessageIDLen bounds message ids. WhatsApp's are 16 to 32 hex or
// base32 characters; other clients use up to 64 or so.
const MaxMessageIDLen = 128

var messageIDRe = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// ValidateMessageID returns an invalid-params Error unless id looks like
// a WhatsApp message id: 1 to 128 letters, digits, '.', '_', ':' or '-'.
// what names the param in the error.
func ValidateMessageID(what, id string) error {
	if id == "" {
		return Errorf(CodeInvalidParams, "%s is required: a message id", what)
	}
	if !messageIDRe.MatchString(id) {
		return Errorf(CodeInvalidParams, "invalid %s %q: a message id is 1 to %d letters, digits, '.', '_', ':' or '-'", what, truncate(id, 80), MaxMessageIDLen)
	}
	return nil
}

// MaxEmojiLen bounds a reaction in bytes: one emoji, ZWJ sequences and
// modifiers included.
const MaxEmojiLen = 64

// ValidateEmoji returns an invalid-params Error for a reaction that is
// not one short run of non-space characters ("" removes a reaction).
func ValidateEmoji(e string) error {
	if e == "" {
		return nil
	}
	if len(e) > MaxEmojiLen || !utf8.ValidString(e) || strings.ContainsFunc(e, unicode.IsSpace) {
		return Errorf(CodeInvalidParams, "invalid emoji %q: give one emoji (or \"\" to remove the reaction)", truncate(e, 80))
	}
	return nil
}

// ParseUserJID is ParseRecipient for a param that must name a person (a
// mention, a contact): an E.164 number, a user JID or a LID.
func ParseUserJID(what, s string) (string, error) {
	jid, err := ParseRecipient(s)
	if err != nil {
		return "", Errorf(CodeInvalidParams, "%s: %s", what, err.(*Error).Message)
	}
	if !strings.HasSuffix(jid, "@"+ServerUser) && !strings.HasSuffix(jid, "@"+ServerLID) {
		return "", Errorf(CodeInvalidParams, "%s: %q is not a person: give an E.164 number or a user JID", what, truncate(s, 80))
	}
	return jid, nil
}
