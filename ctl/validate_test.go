package ctl

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateClientIDRejectsPathsAndOddCharacters(t *testing.T) {
	good := []string{"sales", "a", "A-b_9", strings.Repeat("x", 64)}
	bad := []string{"", "../etc", "a/b", "a b", "ä", "sales\n", strings.Repeat("x", 65), ".", "..", "a.b", "-\x00"}
	for _, id := range good {
		if err := ValidateClientID(id); err != nil {
			t.Errorf("ValidateClientID(%q) = %v, want nil", id, err)
		}
	}
	for _, id := range bad {
		err := ValidateClientID(id)
		if !errors.Is(err, ErrInvalidParams) {
			t.Errorf("ValidateClientID(%q) = %v, want invalid params", id, err)
		}
	}
}

func TestParseRecipientAcceptsE164AndJIDsOnly(t *testing.T) {
	cases := map[string]string{
		"+4915112345678":                  "4915112345678@s.whatsapp.net",
		"+49 151 1234-5678":               "4915112345678@s.whatsapp.net",
		"0049 151 12345678":               "4915112345678@s.whatsapp.net",
		"+1 (555) 010-9999":               "15550109999@s.whatsapp.net",
		"4915112345678@s.whatsapp.net":    "4915112345678@s.whatsapp.net",
		"4915112345678:12@s.whatsapp.net": "4915112345678@s.whatsapp.net",
		"120363025246125486@g.us":         "120363025246125486@g.us",
		"4915112345678-1600000000@g.us":   "4915112345678-1600000000@g.us",
		"123456789012345@lid":             "123456789012345@lid",
		"status@broadcast":                "status@broadcast",
		"120363144038483540@newsletter":   "120363144038483540@newsletter",
	}
	for in, want := range cases {
		got, err := ParseRecipient(in)
		if err != nil || got != want {
			t.Errorf("ParseRecipient(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "4915112345678", "+0123456", "+12", "+1234567890123456", "abc", "+49abc",
		"foo@s.whatsapp.net", "49151@example.com", "@g.us", "1@g.us", "+49 151 1234 5678@s.whatsapp.net", "12345@s.whatsapp.net\n"} {
		if got, err := ParseRecipient(in); !errors.Is(err, ErrInvalidParams) {
			t.Errorf("ParseRecipient(%q) = %q, %v; want invalid params", in, got, err)
		}
	}
}

func TestNormalizePhoneRequiresCountryCode(t *testing.T) {
	if p, err := NormalizePhone("+49 (151) 123.456.78"); err != nil || p != "+4915112345678" {
		t.Fatalf("NormalizePhone = %q, %v", p, err)
	}
	for _, in := range []string{"015112345678", "", "+", "+49", "phone"} {
		if _, err := NormalizePhone(in); !errors.Is(err, ErrInvalidParams) {
			t.Errorf("NormalizePhone(%q) = %v, want invalid params", in, err)
		}
	}
}

func TestValidateTextRefusesEmptyAndOversized(t *testing.T) {
	if err := ValidateText(strings.Repeat("é", MaxTextLen/2)); err != nil {
		t.Errorf("a long text within the limit was refused: %v", err)
	}
	for _, in := range []string{"", "  \n\t", strings.Repeat("a", MaxTextLen+1)} {
		if err := ValidateText(in); !errors.Is(err, ErrInvalidParams) {
			t.Errorf("ValidateText(%d bytes) = %v, want invalid params", len(in), err)
		}
	}
}

func TestErrorClassesMatchByCode(t *testing.T) {
	err := Errorf(CodeSessionNotFound, "no session for client %q", "x")
	if !errors.Is(err, ErrNotFound) || errors.Is(err, ErrNotReady) {
		t.Fatalf("errors.Is by class broken for %v", err)
	}
	wrapped := AsError(errors.Join(errors.New("context"), err))
	if wrapped.Code != CodeSessionNotFound {
		t.Fatalf("AsError lost the code: %+v", wrapped)
	}
	if AsError(errors.New("boom")).Code != CodeInternal {
		t.Fatal("a plain error must become an internal error")
	}
}

func FuzzClientID(f *testing.F) {
	for _, s := range []string{"sales", "", "../x", "a/b", strings.Repeat("z", 70), "\x00", "ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if ValidateClientID(id) != nil {
			return
		}
		if len(id) == 0 || len(id) > MaxClientIDLen {
			t.Fatalf("accepted id of length %d", len(id))
		}
		for _, r := range id {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
				t.Fatalf("accepted id %q with %q", id, r)
			}
		}
	})
}

func FuzzRecipient(f *testing.F) {
	for _, s := range []string{"+4915112345678", "4915112345678@s.whatsapp.net", "120363025246125486@g.us", "x@y", "+", "status@broadcast", "1:2@lid"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, to string) {
		jid, err := ParseRecipient(to)
		if err != nil {
			if !errors.Is(err, ErrInvalidParams) {
				t.Fatalf("error of the wrong class: %v", err)
			}
			return
		}
		user, server, ok := strings.Cut(jid, "@")
		if !ok || user == "" || strings.ContainsAny(jid, " \n\t/:") {
			t.Fatalf("ParseRecipient(%q) = %q: not a clean JID", to, jid)
		}
		switch server {
		case ServerUser, ServerGroup, ServerLID, ServerBroadcast, ServerNewslet:
		default:
			t.Fatalf("ParseRecipient(%q) = %q: unknown server", to, jid)
		}
		// Normalising is idempotent.
		if again, err := ParseRecipient(jid); err != nil || again != jid {
			t.Fatalf("ParseRecipient(%q) = %q, %v; not idempotent", jid, again, err)
		}
	})
}
