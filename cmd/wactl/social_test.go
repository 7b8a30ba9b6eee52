package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wad-project/wad/ctl"
	"github.com/wad-project/wad/daemon"
	"github.com/wad-project/wad/sessions"
)

const (
	alice = "4915112345678@s.whatsapp.net"
	bob   = "441234567890@s.whatsapp.net"
	grp   = "120363012345678901@g.us"
)

// socialStub answers the contact, chat, group, profile, presence and
// call methods with fixed results, and keeps what a profile.set's
// descriptor held.
type socialStub struct {
	mu      sync.Mutex
	picture []string // content of each profile.set's passed file
	fail    *ctl.Error
}

func (st *socialStub) handle(r stubRequest) (any, *ctl.Error) {
	if r.Method == ctl.MethodProfileSet {
		for _, f := range r.Files {
			b, _ := io.ReadAll(f)
			st.mu.Lock()
			st.picture = append(st.picture, string(b))
			st.mu.Unlock()
		}
	}
	st.mu.Lock()
	fail := st.fail
	st.mu.Unlock()
	if fail != nil {
		return nil, fail
	}
	switch r.Method {
	case ctl.MethodCheck:
		var p ctl.CheckParams
		json.Unmarshal(r.Params, &p)
		var res ctl.CheckResult
		for i, ph := range p.Phones {
			c := ctl.PhoneCheck{Phone: strings.ReplaceAll(ph, " ", "")}
			if i%2 == 0 {
				c.OnWhatsApp, c.JID, c.LID = true, strings.TrimPrefix(c.Phone, "+")+"@s.whatsapp.net", "123456789012345@lid"
			}
			if i == 2 {
				c.Business, c.BusinessName = true, "Acme Widgets GmbH"
			}
			res.Results = append(res.Results, c)
		}
		return res, nil
	case ctl.MethodContacts:
		return ctl.ContactsResult{Contacts: []ctl.Contact{
			{JID: alice, Phone: "+4915112345678", Name: "Alice Liddell", PushName: "alice"},
			{JID: "98765432101234@lid", PushName: "someone with a very long push name indeed, longer than a terminal"},
		}}, nil
	case ctl.MethodContactInfo:
		return ctl.ContactInfo{Contact: ctl.Contact{JID: alice, LID: "123456789012345@lid", Phone: "+4915112345678", PushName: "alice"},
			About: "Hey there", Devices: 2, PictureURL: "https://pps.whatsapp.net/x.jpg"}, nil
	case ctl.MethodChats:
		return ctl.ChatsResult{Chats: []ctl.Chat{
			{ID: grp, Name: "Team\nnewline", Kind: ctl.ChatGroup, Unread: 3, LastTime: sentAt, MutedUntil: time.Now().Add(time.Hour), Pinned: true},
			{ID: alice, Kind: ctl.ChatUser, Archived: true},
		}}, nil
	case ctl.MethodGroups:
		return ctl.GroupsResult{Groups: []ctl.Group{{ID: grp, Name: "Team", Size: 3, Announce: true, Topic: "weekly"}}}, nil
	case ctl.MethodGroupInfo:
		return ctl.Group{ID: grp, Name: "Team", Owner: alice, Size: 2, Locked: true, Participants: []ctl.Participant{
			{JID: alice, Phone: "+4915112345678", SuperAdmin: true, Admin: true}, {JID: bob}}}, nil
	case ctl.MethodGroupCreate:
		return ctl.GroupCreateResult{Group: ctl.Group{ID: grp, Name: "Team"}, Participants: []ctl.ParticipantResult{
			{JID: alice, OK: true}, {JID: bob, Code: 403, Error: "privacy settings", InviteCode: "AbCdEf123456"}}}, nil
	case ctl.MethodGroupParticipants:
		var p ctl.ParticipantsParams
		json.Unmarshal(r.Params, &p)
		var res ctl.ParticipantsResult
		for _, who := range append(append(append(p.Add, p.Remove...), p.Promote...), p.Demote...) {
			res.Participants = append(res.Participants, ctl.ParticipantResult{JID: who, OK: who != bob, Code: map[bool]int{true: 404}[who == bob]})
		}
		return res, nil
	case ctl.MethodGroupInvite:
		return ctl.InviteLinkResult{Link: ctl.InviteLinkPrefix + "AbCdEf123456"}, nil
	case ctl.MethodGroupJoin:
		return ctl.JoinResult{Group: grp}, nil
	case ctl.MethodProfile:
		return ctl.Profile{JID: alice, Name: "Sales", About: "at your service"}, nil
	case ctl.MethodProfileSet:
		return ctl.ProfileSetResult{PictureID: "1700000000"}, nil
	}
	return ctl.OK{OK: true}, nil
}

func newSocialStub(t *testing.T) (*stubDaemon, *socialStub) {
	st := &socialStub{}
	return startStub(t, st.handle), st
}

func ptr[T any](v T) *T { return &v }

// TestSocialCommandsSendWhatTheCommandLineSays prevents requests that
// do not say what the command line said, and output that does not say
// what was done.
func TestSocialCommandsSendWhatTheCommandLineSays(t *testing.T) {
	t.Setenv("COLUMNS", "")
	s, _ := newSocialStub(t)
	for _, tc := range []struct {
		args   []string
		stdin  string
		method string
		params any // a pointer to fill, compared with want
		want   any
		out    []string
		code   int
	}{
		{[]string{"check", "sales", "+49 151 12345678", "+441234567890"}, "", ctl.MethodCheck, &ctl.CheckParams{},
			&ctl.CheckParams{Client: "sales", Phones: []string{"+49 151 12345678", "+441234567890"}},
			[]string{"PHONE           ON WHATSAPP  JID                           LID                  BUSINESS\n",
				"+4915112345678  yes          4915112345678@s.whatsapp.net  123456789012345@lid  -\n",
				"+441234567890   no           -                             -                    -\n"}, 0},
		{[]string{"check", "sales", "+4915112345678", "-"}, "+441234567890\n\n# a comment\n  +33 6 12 34 56 78  \n", ctl.MethodCheck, &ctl.CheckParams{},
			&ctl.CheckParams{Client: "sales", Phones: []string{"+4915112345678", "+441234567890", "+33 6 12 34 56 78"}},
			[]string{"+33612345678", "Acme Widgets GmbH"}, 0},
		{[]string{"contacts", "sales"}, "", ctl.MethodContacts, &ctl.ClientParams{}, &ctl.ClientParams{Client: "sales"},
			[]string{"JID                           PHONE           NAME           PUSH NAME", alice + "  +4915112345678  Alice Liddell  alice", "98765432101234@lid"}, 0},
		{[]string{"contact", "sales", "+4915112345678", "--picture"}, "", ctl.MethodContactInfo, &ctl.ContactInfoParams{},
			&ctl.ContactInfoParams{Client: "sales", JID: "+4915112345678", Picture: true},
			[]string{"jid:          " + alice + "\n", "lid:          123456789012345@lid\n", "about:        Hey there\n", "devices:      2\n", "picture url:  https://pps.whatsapp.net/x.jpg\n"}, 0},
		{[]string{"chats", "sales"}, "", ctl.MethodChats, &ctl.ClientParams{}, &ctl.ClientParams{Client: "sales"},
			[]string{"ID                            NAME          KIND   UNREAD  LAST              FLAGS\n",
				grp + "       Team newline  group  3       " + sentAt.Local().Format("2006-01-02 15:04") + "  muted,pinned\n",
				alice + "  -             user   0       -                 archived\n"}, 0},
		{[]string{"group", "list", "sales"}, "", ctl.MethodGroups, &ctl.ClientParams{}, &ctl.ClientParams{Client: "sales"},
			[]string{"ID                       NAME  SIZE  FLAGS     TOPIC\n", grp + "  Team  3     announce  weekly\n"}, 0},
		{[]string{"group", "info", "sales", grp}, "", ctl.MethodGroupInfo, &ctl.GroupParams{}, &ctl.GroupParams{Client: "sales", Group: grp},
			[]string{"id:        " + grp + "\n", "locked:    yes (only admins edit name, topic and picture)\n", "announce:  no\n",
				"PARTICIPANT                   PHONE           LID  ROLE\n", alice + "  +4915112345678  -    creator\n", bob + "   -               -    member\n"}, 0},
		{[]string{"group", "create", "sales", "Team", "+4915112345678", bob}, "", ctl.MethodGroupCreate, &ctl.GroupCreateParams{},
			&ctl.GroupCreateParams{Client: "sales", Name: "Team", Participants: []string{"+4915112345678", bob}},
			[]string{"created " + grp + " \"Team\"\n", "PARTICIPANT                   RESULT       INVITE        DETAIL\n",
				alice + "  added        -             -\n", bob + "   refused 403  AbCdEf123456  privacy settings\n"}, 3},
		{[]string{"group", "add", "sales", grp, alice}, "", ctl.MethodGroupParticipants, &ctl.ParticipantsParams{},
			&ctl.ParticipantsParams{Client: "sales", Group: grp, Add: []string{alice}}, []string{alice + "  added"}, 0},
		{[]string{"group", "remove", "sales", grp, alice, bob}, "", ctl.MethodGroupParticipants, &ctl.ParticipantsParams{},
			&ctl.ParticipantsParams{Client: "sales", Group: grp, Remove: []string{alice, bob}}, []string{"PARTICIPANT                   RESULT       DETAIL\n", alice + "  removed      -\n", bob + "   refused 404  -\n"}, 3},
		{[]string{"group", "promote", "sales", grp, alice}, "", ctl.MethodGroupParticipants, &ctl.ParticipantsParams{},
			&ctl.ParticipantsParams{Client: "sales", Group: grp, Promote: []string{alice}}, []string{alice + "  promoted"}, 0},
		{[]string{"group", "demote", "sales", grp, alice}, "", ctl.MethodGroupParticipants, &ctl.ParticipantsParams{},
			&ctl.ParticipantsParams{Client: "sales", Group: grp, Demote: []string{alice}}, []string{alice + "  demoted"}, 0},
		{[]string{"group", "link", "sales", grp, "--reset"}, "", ctl.MethodGroupInvite, &ctl.InviteLinkParams{},
			&ctl.InviteLinkParams{Client: "sales", Group: grp, Reset: true}, []string{"https://chat.whatsapp.com/AbCdEf123456\n"}, 0},
		{[]string{"group", "link", "sales", grp}, "", ctl.MethodGroupInvite, &ctl.InviteLinkParams{},
			&ctl.InviteLinkParams{Client: "sales", Group: grp}, []string{"https://chat.whatsapp.com/AbCdEf123456\n"}, 0},
		{[]string{"group", "join", "sales", "https://chat.whatsapp.com/AbCdEf123456"}, "", ctl.MethodGroupJoin, &ctl.JoinParams{},
			&ctl.JoinParams{Client: "sales", Link: "https://chat.whatsapp.com/AbCdEf123456"}, []string{"sales: joined " + grp + "\n"}, 0},
		{[]string{"group", "leave", "sales", grp}, "", ctl.MethodGroupLeave, &ctl.GroupParams{},
			&ctl.GroupParams{Client: "sales", Group: grp}, []string{"sales: left " + grp + "\n"}, 0},
		{[]string{"group", "set", "sales", grp, "--name", "New", "--topic", "", "--announce", "--locked=false"}, "", ctl.MethodGroupSet, &ctl.GroupSetParams{},
			&ctl.GroupSetParams{Client: "sales", Group: grp, Name: ptr("New"), Topic: ptr(""), Announce: ptr(true), Locked: ptr(false)},
			[]string{grp + `: set name "New", topic removed, announce true, locked false` + "\n"}, 0},
		{[]string{"group", "set", "sales", grp, "--announce=false"}, "", ctl.MethodGroupSet, &ctl.GroupSetParams{},
			&ctl.GroupSetParams{Client: "sales", Group: grp, Announce: ptr(false)}, []string{"announce false\n"}, 0},
		{[]string{"profile", "sales"}, "", ctl.MethodProfile, &ctl.ClientParams{}, &ctl.ClientParams{Client: "sales"},
			[]string{"jid:    " + alice + "\n", "name:   Sales\n", "about:  at your service\n"}, 0},
		{[]string{"profile", "set", "sales", "--name", "Sales Team", "--about", ""}, "", ctl.MethodProfileSet, &ctl.ProfileSetParams{},
			&ctl.ProfileSetParams{Client: "sales", Name: ptr("Sales Team"), About: ptr("")}, []string{`sales: set name "Sales Team", about ""` + "\n"}, 0},
		{[]string{"profile", "set", "sales", "--remove-picture"}, "", ctl.MethodProfileSet, &ctl.ProfileSetParams{},
			&ctl.ProfileSetParams{Client: "sales", RemovePicture: true}, []string{"sales: set picture removed\n"}, 0},
		{[]string{"profile", "--", "set"}, "", ctl.MethodProfile, &ctl.ClientParams{}, &ctl.ClientParams{Client: "set"}, []string{"name:   Sales\n"}, 0},
		{[]string{"presence", "subscribe", "sales", alice}, "", ctl.MethodPresenceSubscribe, &ctl.JIDParams{},
			&ctl.JIDParams{Client: "sales", JID: alice}, []string{"sales: subscribed to the presence of " + alice}, 0},
		{[]string{"presence", "sales", alice}, "", ctl.MethodPresence, &ctl.PresenceParams{},
			&ctl.PresenceParams{Client: "sales", Chat: alice, State: "typing"}, []string{"sales: typing in " + alice}, 0},
		{[]string{"call", "reject", "sales", "CALL0001", alice, "--text", "busy, will call back"}, "", ctl.MethodCallReject, &ctl.CallRejectParams{},
			&ctl.CallRejectParams{Client: "sales", ID: "CALL0001", From: alice, Text: "busy, will call back"},
			[]string{"sales: rejected call CALL0001 from " + alice + ` and sent "busy, will call back"` + "\n"}, 0},
	} {
		n := len(s.Requests())
		code, out, errs := wactl(t, s.Socket, tc.stdin, tc.args...)
		if code != tc.code {
			t.Errorf("wactl %q: exit %d, want %d; %q %q", tc.args, code, tc.code, out, errs)
			continue
		}
		for _, want := range tc.out {
			if !strings.Contains(out, want) {
				t.Errorf("wactl %q: output lacks %q:\n%s", tc.args, want, out)
			}
		}
		reqs := s.Requests()
		if len(reqs) != n+1 || reqs[n].Method != tc.method {
			t.Errorf("wactl %q: requests %+v", tc.args, reqs[n:])
			continue
		}
		reqs[n].decode(t, tc.params)
		if got, want := mustJSON(tc.params), mustJSON(tc.want); got != want {
			t.Errorf("wactl %q: params %s, want %s", tc.args, got, want)
		}
		if tc.code == 3 && !strings.Contains(errs, "participants not") {
			t.Errorf("wactl %q: exit 3 without saying why: %q", tc.args, errs)
		}
	}
}

// TestSocialJSON prevents --json output that is not the daemon's
// result, whole, as JSON (and for a partial success, still exit 3).
func TestSocialJSON(t *testing.T) {
	s, _ := newSocialStub(t)
	for _, tc := range []struct {
		args []string
		into any
		ok   func(any) bool
		code int
	}{
		{[]string{"check", "sales", "+4915112345678", "+441234567890", "+33612345678"}, &ctl.CheckResult{}, func(v any) bool {
			r := v.(*ctl.CheckResult)
			return len(r.Results) == 3 && r.Results[0].OnWhatsApp && r.Results[0].LID == "123456789012345@lid" && !r.Results[1].OnWhatsApp && r.Results[2].BusinessName == "Acme Widgets GmbH"
		}, 0},
		{[]string{"contacts", "sales"}, &ctl.ContactsResult{}, func(v any) bool { return len(v.(*ctl.ContactsResult).Contacts) == 2 }, 0},
		{[]string{"contact", "sales", alice}, &ctl.ContactInfo{}, func(v any) bool { return v.(*ctl.ContactInfo).Devices == 2 }, 0},
		{[]string{"chats", "sales"}, &ctl.ChatsResult{}, func(v any) bool {
			c := v.(*ctl.ChatsResult).Chats
			return len(c) == 2 && c[0].LastTime.Equal(sentAt) && c[0].Pinned && c[1].Archived
		}, 0},
		{[]string{"group", "list", "sales"}, &ctl.GroupsResult{}, func(v any) bool { return v.(*ctl.GroupsResult).Groups[0].Announce }, 0},
		{[]string{"group", "info", "sales", grp}, &ctl.Group{}, func(v any) bool { return len(v.(*ctl.Group).Participants) == 2 }, 0},
		{[]string{"group", "create", "sales", "Team", alice, bob}, &ctl.GroupCreateResult{}, func(v any) bool {
			r := v.(*ctl.GroupCreateResult)
			return r.Group.ID == grp && len(r.Participants) == 2 && r.Participants[1].InviteCode == "AbCdEf123456"
		}, 3},
		{[]string{"group", "add", "sales", grp, alice}, &ctl.ParticipantsResult{}, func(v any) bool { return v.(*ctl.ParticipantsResult).Participants[0].OK }, 0},
		{[]string{"group", "link", "sales", grp}, &ctl.InviteLinkResult{}, func(v any) bool { return v.(*ctl.InviteLinkResult).Link != "" }, 0},
		{[]string{"group", "join", "sales", "AbCdEf123456"}, &ctl.JoinResult{}, func(v any) bool { return v.(*ctl.JoinResult).Group == grp }, 0},
		{[]string{"group", "leave", "sales", grp}, &ctl.OK{}, func(v any) bool { return v.(*ctl.OK).OK }, 0},
		{[]string{"group", "set", "sales", grp, "--locked"}, &ctl.OK{}, func(v any) bool { return v.(*ctl.OK).OK }, 0},
		{[]string{"profile", "sales"}, &ctl.Profile{}, func(v any) bool { return v.(*ctl.Profile).Name == "Sales" }, 0},
		{[]string{"profile", "set", "sales", "--about", "x"}, &ctl.ProfileSetResult{}, func(v any) bool { return v.(*ctl.ProfileSetResult).PictureID == "1700000000" }, 0},
		{[]string{"presence", "subscribe", "sales", alice}, &ctl.OK{}, func(v any) bool { return v.(*ctl.OK).OK }, 0},
		{[]string{"call", "reject", "sales", "CALL0001", alice}, &ctl.OK{}, func(v any) bool { return v.(*ctl.OK).OK }, 0},
	} {
		code, out, errs := wactl(t, s.Socket, "", append([]string{"--json"}, tc.args...)...)
		if code != tc.code || json.Unmarshal([]byte(out), tc.into) != nil || !tc.ok(tc.into) {
			t.Errorf("--json %q: exit %d (want %d), %q %q", tc.args, code, tc.code, out, errs)
		}
	}
}

// TestTablesFitTheTerminal prevents tables wider than the terminal:
// the free-text columns give way, cut with "…", and identifiers stay
// whole.
func TestTablesFitTheTerminal(t *testing.T) {
	s, _ := newSocialStub(t)
	t.Setenv("COLUMNS", "80")
	code, out, _ := wactl(t, s.Socket, "", "contacts", "sales")
	if code != 0 {
		t.Fatalf("contacts: exit %d", code)
	}
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if n := len([]rune(line)); n > 80 {
			t.Errorf("line of %d characters:\n%s", n, line)
		}
	}
	if !strings.Contains(out, "98765432101234@lid") || !strings.Contains(out, "…") || !strings.Contains(out, alice) {
		t.Errorf("cut the wrong columns:\n%s", out)
	}
	// Too narrow to fit: identifiers still whole.
	t.Setenv("COLUMNS", "20")
	_, out, _ = wactl(t, s.Socket, "", "check", "sales", "+4915112345678")
	if !strings.Contains(out, "4915112345678@s.whatsapp.net  123456789012345@lid") {
		t.Errorf("identifiers cut:\n%s", out)
	}
	// Not a terminal and no COLUMNS: nothing is cut.
	t.Setenv("COLUMNS", "")
	_, out, _ = wactl(t, s.Socket, "", "contacts", "sales")
	if !strings.Contains(out, "longer than a terminal") {
		t.Errorf("cut without a terminal:\n%s", out)
	}
}

// TestProfilePicturePassesTheDescriptor prevents a profile picture sent
// as a path or as bytes in the request: like send --file, the open file
// goes as fd 0.
func TestProfilePicturePassesTheDescriptor(t *testing.T) {
	s, st := newSocialStub(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "me.jpg")
	os.WriteFile(path, []byte("\xff\xd8\xff a face"), 0o600)
	code, out, errs := wactl(t, s.Socket, "", "profile", "set", "sales", "--picture", path)
	if code != 0 || out != "sales: set picture 1700000000\n" {
		t.Fatalf("profile set --picture: exit %d %q %q", code, out, errs)
	}
	req := s.Requests()[0]
	if strings.Contains(string(req.Params), dir) || strings.Contains(string(req.Params), "data") {
		t.Errorf("the request names the path or carries the bytes: %s", req.Params)
	}
	var p ctl.ProfileSetParams
	req.decode(t, &p)
	if p.Picture == nil || p.Picture.FD == nil || *p.Picture.FD != 0 || p.Picture.Kind != ctl.MediaImage || p.Name != nil || p.RemovePicture {
		t.Errorf("params %s", req.Params)
	}
	code, _, errs = wactl(t, s.Socket, "\x89PNG from stdin", "profile", "set", "sales", "--picture", "-", "--name", "Me")
	if code != 0 {
		t.Fatalf("--picture -: exit %d %q", code, errs)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.picture) != 2 || st.picture[0] != "\xff\xd8\xff a face" || st.picture[1] != "\x89PNG from stdin" {
		t.Errorf("passed %q", st.picture)
	}
}

// TestSocialUsageErrors prevents malformed commands from reaching the
// daemon: they exit 2 with a message saying what is wrong (1 for a file
// that cannot be opened), and nothing is sent.
func TestSocialUsageErrors(t *testing.T) {
	s, _ := newSocialStub(t)
	dir := t.TempDir()
	many := []string{"group", "add", "sales", grp}
	for i := 0; i <= ctl.MaxGroupParticipants; i++ {
		many = append(many, "+4915112345678")
	}
	for _, tc := range []struct {
		args  []string
		stdin string
		code  int
		msg   string
	}{
		{[]string{"check", "sales"}, "", 2, "check takes CLIENT PHONE..."},
		{[]string{"check", "sales", "0151 1234"}, "", 2, "invalid phone number"},
		{[]string{"check", "sales", "-"}, "\n# nothing\n", 2, "no numbers to check"},
		{[]string{"check", "sales", "-"}, "+4915112345678\nnot a number\n", 2, "stdin line 2: invalid phone number"},
		{[]string{"check", "sales", "-", "-"}, "+4915112345678\n", 2, "given twice"},
		{[]string{"check", "sales", "-"}, strings.Repeat("+4915112345678\n", ctl.MaxCheckPhones+1), 2, "more than 10000 numbers"},
		{[]string{"contacts"}, "", 2, "contacts takes CLIENT"},
		{[]string{"contact", "sales", "bob"}, "", 2, "invalid recipient"},
		{[]string{"contact", "sales", grp}, "", 2, "is not a person"},
		{[]string{"chats", "sales", "extra"}, "", 2, "chats takes CLIENT"},
		{[]string{"group"}, "", 2, "group needs a subcommand"},
		{[]string{"group", "frob", "sales"}, "", 2, `unknown command "group frob"`},
		{[]string{"group", "--json", "list", "sales"}, "", 2, "group needs a subcommand"},
		{[]string{"group", "info", "sales", alice}, "", 2, "is not a group JID"},
		{[]string{"group", "info", "sales"}, "", 2, "group info takes CLIENT GROUP"},
		{[]string{"group", "create", "sales", "Team"}, "", 2, "group create takes CLIENT NAME PHONE..."},
		{[]string{"group", "create", "sales", " ", alice}, "", 2, "name is required"},
		{[]string{"group", "create", "sales", "Te\nam", alice}, "", 2, "one line"},
		{[]string{"group", "create", "sales", "Team", alice, alice}, "", 2, "twice"},
		{[]string{"group", "create", "sales", "Team", "bob"}, "", 2, "PHONE[0]: invalid recipient"},
		{[]string{"group", "add", "sales", "team", alice}, "", 2, "is not a group JID"},
		{[]string{"group", "remove", "sales", grp, grp}, "", 2, "is not a person"},
		{many, "", 2, "a group holds at most 1023 besides its creator"},
		{[]string{"group", "link", "sales", "x@g.us"}, "", 2, "is not a group JID"},
		{[]string{"group", "join", "sales", "https://example.com/AbCdEf123456"}, "", 2, "invalid invite link"},
		{[]string{"group", "leave", "sales", "120363012345678901"}, "", 2, "is not a group JID"},
		{[]string{"group", "set", "sales", grp}, "", 2, "nothing to change"},
		{[]string{"group", "set", "sales", grp, "--name", ""}, "", 2, "--name: name is required"},
		{[]string{"group", "set", "sales", grp, "--announce=maybe"}, "", 2, "invalid boolean value"},
		{[]string{"group", "set", "sales", grp, "--topic", strings.Repeat("x", ctl.MaxGroupTopicLen+1)}, "", 2, "--topic is 8193 bytes"},
		{[]string{"profile", "set", "sales"}, "", 2, "nothing to change"},
		{[]string{"profile", "set", "sales", "--picture", "a.jpg", "--remove-picture"}, "", 2, "give one"},
		{[]string{"profile", "set", "sales", "--name", strings.Repeat("n", ctl.MaxPushNameLen+1)}, "", 2, "at most 25 characters"},
		{[]string{"profile", "set", "sales", "--picture", filepath.Join(dir, "missing.jpg")}, "", 1, "no such file"},
		{[]string{"profile", "set", "sales", "--picture", dir}, "", 1, "is a directory"},
		{[]string{"profile", "sales", "extra"}, "", 2, "profile takes CLIENT"},
		{[]string{"presence", "subscribe", "sales", "someone"}, "", 2, "invalid recipient"},
		{[]string{"presence", "subscribe", "sales"}, "", 2, "presence subscribe takes CLIENT JID"},
		{[]string{"call"}, "", 2, "call needs a subcommand"},
		{[]string{"call", "reject", "sales", "CALL0001"}, "", 2, "call reject takes CLIENT ID FROM"},
		{[]string{"call", "reject", "sales", "CALL0001", grp}, "", 2, "is not a person"},
		{[]string{"call", "reject", "sales", "CALL0001", alice, "--bogus"}, "", 2, "flag provided but not defined"},
		{[]string{"call", "reject", "sales", "CALL 01", alice}, "", 2, "ID"},
		{[]string{"call", "reject", "sales", "CALL0001", alice, "--text", "  "}, "", 2, "--text"},
	} {
		code, _, errs := wactl(t, s.Socket, tc.stdin, tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.msg) {
			t.Errorf("wactl %.8q: exit %d, stderr %q; want %d and %q", tc.args, code, errs, tc.code, tc.msg)
		}
		if strings.Contains(errs, "panic") {
			t.Errorf("wactl %.8q: %s", tc.args, errs)
		}
	}
	if reqs := s.Requests(); len(reqs) != 0 {
		t.Errorf("usage errors reached the daemon: %+v", reqs)
	}
	// `wactl group --help` lists the subcommands and exits 0.
	code, _, errs := wactl(t, s.Socket, "", "group", "--help")
	if code != 0 || !strings.Contains(errs, "group set CLIENT GROUP") || !strings.Contains(errs, "group join CLIENT LINK") {
		t.Errorf("group --help: exit %d %q", code, errs)
	}
}

// TestSocialDaemonErrorsExitOne prevents a refused call from passing
// for a success.
func TestSocialDaemonErrorsExitOne(t *testing.T) {
	st := &socialStub{fail: ctl.Errorf(ctl.CodeBackendUnavailable, "group.create is not available on the chromedp backend")}
	s := startStub(t, st.handle)
	for _, args := range [][]string{
		{"check", "sales", "+4915112345678"},
		{"chats", "sales"},
		{"group", "create", "sales", "Team", alice},
		{"group", "add", "sales", grp, alice},
		{"profile", "sales"},
		{"call", "reject", "sales", "C1", alice},
	} {
		code, out, errs := wactl(t, s.Socket, "", args...)
		if code != 1 || out != "" || errs != "wactl: group.create is not available on the chromedp backend (error -32003)\n" {
			t.Errorf("wactl %q: exit %d, %q %q", args, code, out, errs)
		}
	}
}

// TestFormatSocialEvents prevents watch lines that hide what a
// check_progress, group, presence, chat_presence, call or contact event
// says.
func TestFormatSocialEvents(t *testing.T) {
	lastSeen := time.Date(2025, 1, 2, 3, 4, 5, 0, time.Local)
	for _, tc := range []struct {
		ev   ctl.Event
		want string
	}{
		{ctl.Event{Kind: ctl.KindCheckProgress, Check: &ctl.CheckProgress{Request: "7", Done: 50, Total: 200,
			Results: []ctl.PhoneCheck{{OnWhatsApp: true}, {}}}}, "sales check_progress 50/200 checked (1 of this batch of 2 on WhatsApp)"},
		{ctl.Event{Kind: ctl.KindGroup, Group: &ctl.GroupChange{Group: grp, Type: ctl.GroupAdd, Author: alice, Participants: []string{bob}}},
			"sales group " + grp + " add " + bob + " by " + alice},
		{ctl.Event{Kind: ctl.KindGroup, Group: &ctl.GroupChange{Group: grp, Type: ctl.GroupJoined, Info: &ctl.Group{Name: "Team", Size: 4}}},
			`group ` + grp + ` joined "Team" (4 participants)`},
		{ctl.Event{Kind: ctl.KindGroup, Group: &ctl.GroupChange{Group: grp, Type: ctl.GroupLeft}}, "group " + grp + " left"},
		{ctl.Event{Kind: ctl.KindGroup, Group: &ctl.GroupChange{Group: grp, Type: ctl.GroupName, Name: "New", Author: alice}}, `name "New" by ` + alice},
		{ctl.Event{Kind: ctl.KindGroup, Group: &ctl.GroupChange{Group: grp, Type: ctl.GroupTopic}}, "topic removed"},
		{ctl.Event{Kind: ctl.KindGroup, Group: &ctl.GroupChange{Group: grp, Type: ctl.GroupAnnounce, Value: ptr(true)}}, "announce (only admins send) on"},
		{ctl.Event{Kind: ctl.KindGroup, Group: &ctl.GroupChange{Group: grp, Type: ctl.GroupLocked, Value: ptr(false)}}, "locked (only admins edit) off"},
		{ctl.Event{Kind: ctl.KindGroup, Group: &ctl.GroupChange{Group: grp, Type: ctl.GroupPicture, PictureID: "17000"}}, "picture 17000"},
		{ctl.Event{Kind: ctl.KindPresence, Presence: &ctl.Presence{JID: alice, Available: true}}, "sales presence " + alice + " online"},
		{ctl.Event{Kind: ctl.KindPresence, Presence: &ctl.Presence{JID: alice, LastSeen: lastSeen}}, alice + " offline (last seen 2025-01-02 03:04:05)"},
		{ctl.Event{Kind: ctl.KindChatPresence, ChatPresence: &ctl.ChatPresence{Chat: grp, Sender: alice, State: "typing"}}, "sales chat_presence " + alice + " typing in " + grp},
		{ctl.Event{Kind: ctl.KindCall, Call: &ctl.Call{ID: "C1", From: alice, State: ctl.CallOffer, Video: true}}, "sales call offer video call C1 from " + alice},
		{ctl.Event{Kind: ctl.KindCall, Call: &ctl.Call{ID: "C1", From: alice, State: ctl.CallRejected, Reason: "auto", Group: grp}}, "call rejected voice call C1 from " + alice + " in " + grp + " (auto)"},
		{ctl.Event{Kind: ctl.KindContact, Contact: &ctl.ContactChange{JID: alice, PushName: "Alice"}}, "sales contact " + alice + ` is now "Alice"`},
		{ctl.Event{Kind: ctl.KindContact, Contact: &ctl.ContactChange{JID: alice, Picture: true}}, alice + " removed their picture"},
		{ctl.Event{Kind: ctl.KindState, Session: &ctl.Session{State: ctl.StateConnected, Reason: ctl.ReasonPhoneOffline}}, "state connected (phone_offline)"},
	} {
		tc.ev.Client = "sales"
		if got := formatEvent(tc.ev); !strings.Contains(got, tc.want) {
			t.Errorf("formatEvent:\n got %s\nwant …%s…", got, tc.want)
		}
	}
}

// longCheckStub answers events.subscribe, and a contact.check with a
// progress event for its first half; with hold set it then waits for
// release instead of answering.
type longCheckStub struct {
	socialStub
	hold     bool
	started  chan struct{}
	release  chan struct{}
	progress int
}

func (st *longCheckStub) handle(r stubRequest) (any, *ctl.Error) {
	switch r.Method {
	case ctl.MethodSubscribe:
		return ctl.SubscribeResult{Subscription: "S1"}, nil
	case ctl.MethodCheck:
		res, _ := st.socialStub.handle(r)
		all := res.(ctl.CheckResult).Results
		half := all[:len(all)/2]
		st.progress = len(half)
		// Another check's answer on the same client, about a number
		// not asked: not shown.
		r.Notify(ctl.Event{Subscription: "S1", Client: "sales", Kind: ctl.KindCheckProgress,
			Check: &ctl.CheckProgress{Request: "99", Done: 1, Total: 1, Results: []ctl.PhoneCheck{{Phone: "+33612345678", OnWhatsApp: true}}}})
		r.Notify(ctl.Event{Subscription: "S1", Client: "sales", Kind: ctl.KindCheckProgress,
			Check: &ctl.CheckProgress{Request: "2", Done: len(half), Total: len(all), Results: half}})
		if st.hold {
			close(st.started)
			<-st.release
			return nil, ctl.Errorf(ctl.CodeTimeout, "stopped")
		}
		return res, nil
	}
	return st.socialStub.handle(r)
}

func manyPhones(n int) (string, []string) {
	var list []string
	for i := range n {
		list = append(list, "+49151200"+strconv.Itoa(10000+i))
	}
	return strings.Join(list, "\n") + "\n", list
}

// TestLongCheckFollowsProgress prevents a long check that loses what
// was answered when it is interrupted: wactl follows the check's
// progress events and prints the numbers answered so far (exit 3).
func TestLongCheckFollowsProgress(t *testing.T) {
	stdin, list := manyPhones(checkProgressAfter + 10)
	st := &longCheckStub{}
	s := startStub(t, st.handle)
	code, out, errs := wactl(t, s.Socket, stdin, "check", "sales", "-")
	if code != 0 || strings.Count(out, "\n") != len(list)+1 || !strings.Contains(out, list[len(list)-1]) {
		t.Fatalf("long check: exit %d %q\n%s", code, errs, out)
	}
	reqs := s.Requests()
	if len(reqs) != 2 || reqs[0].Method != ctl.MethodSubscribe || reqs[1].Method != ctl.MethodCheck {
		t.Fatalf("requests %+v", reqs)
	}
	var sp ctl.SubscribeParams
	reqs[0].decode(t, &sp)
	if mustJSON(sp) != `{"clients":["sales"],"kinds":["check_progress"]}` {
		t.Errorf("subscribed %s", reqs[0].Params)
	}

	// Interrupted: the first half is printed.
	held := &longCheckStub{hold: true, started: make(chan struct{}), release: make(chan struct{})}
	s = startStub(t, held.handle)
	t.Cleanup(func() { close(held.release) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr bytes.Buffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"--socket", s.Socket, "--json", "check", "sales", "-"}, strings.NewReader(stdin), &stdout, &stderr)
	}()
	select {
	case <-held.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the check did not reach the stub")
	}
	time.Sleep(200 * time.Millisecond) // for the events to be read
	cancel()
	code = <-done
	var r ctl.CheckResult
	if code != 3 || json.Unmarshal(stdout.Bytes(), &r) != nil || len(r.Results) != held.progress || r.Results[0].Phone != list[0] {
		t.Fatalf("interrupted: exit %d, stderr %q, stdout %s", code, stderr.String(), stdout.String())
	}
	if want := "interrupted: checked 30 of 60 numbers"; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr %q lacks %q", stderr.String(), want)
	}
}

// TestCheckAndCallRejectThroughTheDaemon prevents a check or a call
// rejection that only works against the stub: through the real daemon
// a long check is paced in batches, followed by its progress events,
// and answered whole.
func TestCheckAndCallRejectThroughTheDaemon(t *testing.T) {
	d, b := connected(t, func(c *daemon.Config) {
		c.Sessions.CheckBatch, c.Sessions.CheckInterval = 7, daemon.Duration(time.Millisecond)
	})
	stdin, list := manyPhones(checkProgressAfter + 11)
	code, out, errs := wactl(t, d.Socket, stdin, "--json", "check", "sales", "-")
	var r ctl.CheckResult
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil || len(r.Results) != len(list) {
		t.Fatalf("check: exit %d %q %.200s", code, errs, out)
	}
	for i, c := range r.Results {
		if c.Phone != list[i] || c.OnWhatsApp != ((list[i][len(list[i])-1]-'0')%2 == 0) {
			t.Errorf("result %d: %+v for %s", i, c, list[i])
		}
	}
	code, out, errs = wactl(t, d.Socket, "", "call", "reject", "sales", "CALL0001", alice, "--text", "later")
	if code != 0 || !strings.Contains(out, "rejected call CALL0001") {
		t.Fatalf("call reject: exit %d %q %q", code, out, errs)
	}
	// The daemon refuses what the stand-in backend cannot do: exit 1.
	code, _, errs = wactl(t, d.Socket, "", "group", "list", "sales")
	if code != 1 || !strings.HasPrefix(errs, "wactl: ") {
		t.Errorf("group list on a backend without groups: exit %d %q", code, errs)
	}
	var batches int
	var rejected []sessions.RejectCall
	for _, op := range b.Session("sales").OpsDone() {
		switch op := op.(type) {
		case sessions.CheckPhones:
			batches++
		case sessions.RejectCall:
			rejected = append(rejected, op)
		}
	}
	if batches != (len(list)+6)/7 || len(rejected) != 1 || rejected[0].ID != "CALL0001" || rejected[0].Text != "later" {
		t.Errorf("backend saw %d check batches, rejections %+v", batches, rejected)
	}
}

// Text other people wrote cannot drive the terminal: escapes, newlines
// and bidirectional overrides in names and about texts are neutralised,
// in tables and in field lists alike.
func TestOthersTextCannotDriveTheTerminal(t *testing.T) {
	for _, in := range []string{"\x1b[2Jevil", "a\nb", "\u009b31mred", "abc\u202edcba", "x\u2066y"} {
		got := printable(in)
		for _, r := range got {
			if r < 0x20 || (r >= 0x7f && r <= 0x9f) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
				t.Errorf("printable(%q) = %q keeps %U", in, got, r)
			}
		}
	}
	if got := cut("日本語の名前", 7); got != "日本語…" || dispWidth(got) > 7 {
		t.Errorf("cut of wide characters: %q (%d columns)", got, dispWidth(got))
	}
	if w := dispWidth("e\u0301👍🏽"); w != 3 {
		t.Errorf("dispWidth of a combining accent and an emoji: %d, want 3", w)
	}
}

// The zsh script quotes help texts so that nothing in them (a
// backquoted command, a $) is run when completing.
func TestZshCompletionRunsNothingFromHelpTexts(t *testing.T) {
	var out strings.Builder
	if code := run(context.Background(), []string{"completion", "zsh"}, nil, &out, &out); code != 0 {
		t.Fatalf("completion zsh: %d", code)
	}
	for _, line := range strings.Split(out.String(), "\n") {
		l := strings.TrimSpace(line)
		if strings.ContainsAny(l, "`") && !(strings.HasPrefix(l, "'") && strings.HasSuffix(l, "'")) {
			t.Errorf("backquote outside single quotes: %s", l)
		}
	}
}
