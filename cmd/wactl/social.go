package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/wad-project/wad/ctl"
)

// The commands of contacts, chats, groups, profile, presence
// subscriptions and calls. Arguments that are malformed (a group that
// is no group JID, a participant that is no number or JID, an invite
// link of the wrong shape) are usage errors: nothing is sent.

const checkHelp = `PHONE is an international number (+4915112345678; spaces, dots, dashes
and parentheses are allowed). A PHONE of - reads numbers from stdin, one
a line (blank lines and lines starting with # are skipped). The daemon
paces the checks (many checks at once get accounts flagged), so a long
list takes a while: on a terminal wactl shows how far it is.
Interrupting wactl stops the check; for a list of more than 50 numbers
it then prints those answered so far and exits 3. Otherwise it exits 0
whether or not the numbers are on WhatsApp.

examples:
  wactl check sales +4915112345678 +441234567890
  wactl check sales - < numbers.txt
  wactl --json check sales - < numbers.txt | jq -r '.results[] | select(.on_whatsapp) | .jid'
`

// participantsHelp is the help of the commands that return a result per
// participant.
const participantsHelp = `PHONE is an E.164 number (+4915112345678), a user JID or a LID.
WhatsApp takes some participants and refuses others in one call (403:
their privacy settings allow only invitations, and the table shows the
invite code WhatsApp issued for them; 404: not on WhatsApp; 409: already
a member).

exit status: 0 when every participant was %s; 3 when WhatsApp refused
one or more (the table, or --json, says which and why; the rest was
done); 1 when the call failed as a whole; 2 for a usage error.
`

const groupSetHelp = `Give at least one of the flags. --topic "" removes the description.
--announce: only admins send messages; --locked: only admins edit the
group's name, topic and picture (--announce=false, --locked=false undo).

examples:
  wactl group set sales 120363012345678901@g.us --name "Team" --topic "weekly sync"
  wactl group set sales 120363012345678901@g.us --announce --locked=false
`

const profileSetHelp = `Give at least one of the flags. --picture passes the open image (JPEG,
PNG or WebP) to the daemon like ` + "`wactl send --file`" + ` (no path is sent);
--picture - passes stdin.
`

const presenceSubscribeHelp = `WhatsApp then tells this session when JID comes online or goes
offline (and when they were last seen, if their privacy settings allow):
presence events, shown by ` + "`wactl watch CLIENT --kinds presence`" + `.
`

// socialCommands are the commands of this file, in help order.
func socialCommands() []command {
	noFlags := func(f func(*app, context.Context, []string) error) func(*flag.FlagSet) func(*app, context.Context, []string) error {
		return func(*flag.FlagSet) func(*app, context.Context, []string) error { return f }
	}
	participants := func(action, done, help string) command {
		return command{name: "group " + action, args: "CLIENT GROUP PHONE...", nargs: [2]int{3, -1},
			help: help + " (a table says what became of each)",
			long: fmt.Sprintf(participantsHelp, done),
			flags: noFlags(func(a *app, ctx context.Context, args []string) error {
				return a.groupParticipants(ctx, args, action, done)
			})}
	}
	return []command{
		{name: "check", args: "CLIENT PHONE...", help: "say which numbers are on WhatsApp (- reads numbers from stdin)", nargs: [2]int{2, -1},
			long: checkHelp, flags: noFlags((*app).check)},
		{name: "contacts", args: "CLIENT", help: "list the contacts this account synced from the phone", nargs: [2]int{1, 1},
			flags: noFlags((*app).contacts)},
		{name: "contact", args: "CLIENT JID", help: "show a contact (JID: +E164 number, user JID or LID): names, about, devices", nargs: [2]int{2, 2},
			flags: func(fs *flag.FlagSet) func(*app, context.Context, []string) error {
				pic := fs.Bool("picture", false, "show the profile picture's URL too (one more request to WhatsApp)")
				return func(a *app, ctx context.Context, args []string) error { return a.contact(ctx, args, *pic) }
			}},
		{name: "chats", args: "CLIENT", help: "list the chats, most recent first", nargs: [2]int{1, 1},
			flags: noFlags((*app).chats)},
		{name: "group list", args: "CLIENT", help: "list the groups this account is in", nargs: [2]int{1, 1},
			flags: noFlags((*app).groupList)},
		{name: "group info", args: "CLIENT GROUP", help: "show a group's settings and participants", nargs: [2]int{2, 2},
			flags: noFlags((*app).groupInfo)},
		{name: "group create", args: "CLIENT NAME PHONE...", help: "create group NAME with these participants (and this account)", nargs: [2]int{3, -1},
			long: fmt.Sprintf(participantsHelp, "added"), flags: noFlags((*app).groupCreate)},
		participants(ctl.ActionAdd, "added", "add people to GROUP"),
		participants(ctl.ActionRemove, "removed", "remove people from GROUP"),
		participants(ctl.ActionPromote, "promoted", "make participants of GROUP admins"),
		participants(ctl.ActionDemote, "demoted", "take admin rights from participants of GROUP"),
		{name: "group link", args: "CLIENT GROUP", help: "print GROUP's invite link (--reset revokes it and makes a new one)", nargs: [2]int{2, 2},
			flags: func(fs *flag.FlagSet) func(*app, context.Context, []string) error {
				reset := fs.Bool("reset", false, "revoke the current link (it stops working) and make a new one")
				return func(a *app, ctx context.Context, args []string) error { return a.groupLink(ctx, args, *reset) }
			}},
		{name: "group join", args: "CLIENT LINK", help: "join a group by its invite link (" + ctl.InviteLinkPrefix + "CODE, or the code)", nargs: [2]int{2, 2},
			flags: noFlags((*app).groupJoin)},
		{name: "group leave", args: "CLIENT GROUP", help: "leave GROUP", nargs: [2]int{2, 2},
			flags: noFlags((*app).groupLeave)},
		{name: "group set", args: "CLIENT GROUP", help: "change GROUP's name, topic, or who may send and edit", nargs: [2]int{2, 2},
			long: groupSetHelp, flags: groupSetFlags},
		{name: "profile", args: "CLIENT", help: "show this account's profile: name, about, picture", nargs: [2]int{1, 1},
			flags: noFlags((*app).profile)},
		{name: "profile set", args: "CLIENT", help: "change this account's name, about or picture", nargs: [2]int{1, 1},
			long: profileSetHelp, flags: profileSetFlags},
		{name: "presence subscribe", args: "CLIENT JID", help: "get JID's online status and last seen as presence events (see wactl watch)", nargs: [2]int{2, 2},
			long: presenceSubscribeHelp, flags: noFlags((*app).presenceSubscribe)},
		{name: "call reject", args: "CLIENT ID FROM", help: "refuse incoming call ID from FROM (as `wactl watch` shows them)", nargs: [2]int{3, 3},
			flags: func(fs *flag.FlagSet) func(*app, context.Context, []string) error {
				text := fs.String("text", "", "then send the caller this `TEXT`")
				return func(a *app, ctx context.Context, args []string) error { return a.callReject(ctx, args, *text) }
			}},
	}
}

// partialError is a call that did part of what was asked: wactl prints
// it and exits 3.
type partialError struct{ msg string }

func (e *partialError) Error() string { return e.msg }

// usageOf turns a ctl validation error into a usage error.
func usageOf(err error) error {
	var ce *ctl.Error
	if errors.As(err, &ce) {
		return usagef("%s", ce.Message)
	}
	return err
}

func groupArg(s string) (string, error) {
	g, err := ctl.ParseGroupJID("GROUP", s)
	return g, usageOf(err)
}

// phones collects check's numbers: the arguments, with - standing for
// stdin's lines.
func (a *app) phones(args []string) ([]string, error) {
	var out []string
	stdin := false
	for _, s := range args {
		if s != "-" {
			if _, err := ctl.NormalizePhone(s); err != nil {
				return nil, usageOf(err)
			}
			out = append(out, s)
			continue
		}
		if stdin {
			return nil, usagef("- (stdin) given twice")
		}
		stdin = true
		sc := bufio.NewScanner(a.stdin)
		for line := 1; sc.Scan(); line++ {
			s := strings.TrimSpace(sc.Text())
			if s == "" || strings.HasPrefix(s, "#") {
				continue
			}
			if _, err := ctl.NormalizePhone(s); err != nil {
				return nil, usagef("stdin line %d: %s", line, err.(*ctl.Error).Message)
			}
			out = append(out, s)
			if len(out) > ctl.MaxCheckPhones {
				break
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("reading stdin: %w", err)
		}
	}
	switch {
	case len(out) == 0:
		return nil, usagef("no numbers to check (stdin had none)")
	case len(out) > ctl.MaxCheckPhones:
		return nil, usagef("more than %d numbers: split the list", ctl.MaxCheckPhones)
	}
	return out, nil
}

// checkProgressAfter is how many numbers make a check long enough to
// follow its progress events.
const checkProgressAfter = 50

func (a *app) check(ctx context.Context, args []string) error {
	phones, err := a.phones(args[1:])
	if err != nil {
		return err
	}
	p := ctl.CheckParams{Client: args[0], Phones: phones}
	var r ctl.CheckResult
	if len(phones) <= checkProgressAfter {
		if err := a.client.Call(ctx, ctl.MethodCheck, p, &r); err != nil {
			return err
		}
		return a.printChecks(r)
	}
	return a.longCheck(ctx, p)
}

// longCheck runs a contact.check of many numbers following its
// check_progress events: it shows how far it is on a terminal, and
// when interrupted prints the numbers answered so far (exit 3) instead
// of losing them. The daemon stops checking when wactl hangs up.
func (a *app) longCheck(ctx context.Context, p ctl.CheckParams) error {
	w, err := a.client.Watch(ctx, ctl.SubscribeParams{Clients: []string{p.Client}, Kinds: []string{ctl.KindCheckProgress}})
	if err != nil {
		return err
	}
	// The subscription ends with the connection (an unsubscribe would
	// wait for a daemon that may be busy with the check).
	asked := map[string]bool{}
	var order []string
	for _, ph := range p.Phones {
		n, _ := ctl.NormalizePhone(ph)
		if !asked[n] {
			asked[n] = true
			order = append(order, n)
		}
	}
	answered := map[string]ctl.PhoneCheck{}
	f, _ := a.stderr.(*os.File)
	tty := f != nil && isTerminal(f)
	type reply struct {
		r   ctl.CheckResult
		err error
	}
	replied := make(chan reply, 1)
	go func() {
		var r ctl.CheckResult
		err := a.client.Call(ctx, ctl.MethodCheck, p, &r)
		replied <- reply{r, err}
	}()
	// Progress of this check, or of another one on the same client: an
	// answer about a number asked is good either way.
	take := func(ev ctl.Event) {
		if ev.Check == nil {
			return
		}
		for _, c := range ev.Check.Results {
			if asked[c.Phone] {
				answered[c.Phone] = c
			}
		}
	}
	events := w.C
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			take(ev)
			if tty {
				fmt.Fprintf(a.stderr, "\rchecked %d of %d numbers", len(answered), len(order))
			}
		case rep := <-replied:
			for drained := false; !drained && events != nil; {
				select {
				case ev, ok := <-events:
					if !ok {
						events = nil
					}
					take(ev)
				default:
					drained = true
				}
			}
			if tty {
				fmt.Fprint(a.stderr, "\r\033[K")
			}
			if rep.err == nil {
				return a.printChecks(rep.r)
			}
			if ctx.Err() == nil || len(answered) == 0 {
				return rep.err
			}
			var r ctl.CheckResult
			for _, ph := range order {
				if c, ok := answered[ph]; ok {
					r.Results = append(r.Results, c)
				}
			}
			if err := a.printChecks(r); err != nil {
				return err
			}
			return &partialError{fmt.Sprintf("interrupted: checked %d of %d numbers (those shown)", len(r.Results), len(order))}
		}
	}
}

// printChecks prints contact.check's answers.
func (a *app) printChecks(r ctl.CheckResult) error {
	if a.json {
		return a.printJSON(r)
	}
	rows := make([][]string, 0, len(r.Results))
	for _, c := range r.Results {
		biz := "-"
		if c.Business {
			biz = "yes"
			if c.BusinessName != "" {
				biz = c.BusinessName
			}
		}
		rows = append(rows, []string{c.Phone, yesNo(c.OnWhatsApp), c.JID, c.LID, biz})
	}
	a.printRows([]string{"PHONE", "ON WHATSAPP", "JID", "LID", "BUSINESS"}, []int{4}, rows)
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func (a *app) contacts(ctx context.Context, args []string) error {
	r, done, err := callPrinting[ctl.ContactsResult](ctx, a, ctl.MethodContacts, ctl.ClientParams{Client: args[0]})
	if done {
		return err
	}
	if len(r.Contacts) == 0 {
		fmt.Fprintf(a.stdout, "%s: no contacts\n", args[0])
		return nil
	}
	rows := make([][]string, 0, len(r.Contacts))
	for _, c := range r.Contacts {
		rows = append(rows, []string{c.JID, c.Phone, c.Name, c.PushName, c.BusinessName})
	}
	a.printRows([]string{"JID", "PHONE", "NAME", "PUSH NAME", "BUSINESS"}, []int{2, 3, 4}, rows)
	return nil
}

func (a *app) contact(ctx context.Context, args []string, picture bool) error {
	p := ctl.ContactInfoParams{Client: args[0], JID: args[1], Picture: picture}
	if _, err := ctl.ParseUserJID("JID", p.JID); err != nil {
		return usageOf(err)
	}
	r, done, err := callPrinting[ctl.ContactInfo](ctx, a, ctl.MethodContactInfo, p)
	if done {
		return err
	}
	about := r.About
	devices := ""
	if r.Devices > 0 {
		devices = strconv.Itoa(r.Devices)
	}
	a.printFields("jid", r.JID, "lid", r.LID, "phone", r.Phone, "name", r.Name, "first name", r.FirstName,
		"push name", r.PushName, "business", r.BusinessName, "about", about, "devices", devices,
		"picture id", r.PictureID, "picture url", r.PictureURL)
	return nil
}

func (a *app) chats(ctx context.Context, args []string) error {
	r, done, err := callPrinting[ctl.ChatsResult](ctx, a, ctl.MethodChats, ctl.ClientParams{Client: args[0]})
	if done {
		return err
	}
	if len(r.Chats) == 0 {
		fmt.Fprintf(a.stdout, "%s: no chats\n", args[0])
		return nil
	}
	now := time.Now()
	rows := make([][]string, 0, len(r.Chats))
	for _, c := range r.Chats {
		var flags []string
		if c.MutedUntil.After(now) {
			flags = append(flags, "muted")
		}
		if c.Archived {
			flags = append(flags, "archived")
		}
		if c.Pinned {
			flags = append(flags, "pinned")
		}
		last := "-"
		if !c.LastTime.IsZero() {
			last = c.LastTime.Local().Format("2006-01-02 15:04")
		}
		rows = append(rows, []string{c.ID, c.Name, c.Kind, strconv.Itoa(c.Unread), last, strings.Join(flags, ",")})
	}
	a.printRows([]string{"ID", "NAME", "KIND", "UNREAD", "LAST", "FLAGS"}, []int{1}, rows)
	return nil
}

func (a *app) groupList(ctx context.Context, args []string) error {
	r, done, err := callPrinting[ctl.GroupsResult](ctx, a, ctl.MethodGroups, ctl.ClientParams{Client: args[0]})
	if done {
		return err
	}
	if len(r.Groups) == 0 {
		fmt.Fprintf(a.stdout, "%s: in no groups\n", args[0])
		return nil
	}
	rows := make([][]string, 0, len(r.Groups))
	for _, g := range r.Groups {
		rows = append(rows, []string{g.ID, g.Name, strconv.Itoa(g.Size), groupFlags(g), g.Topic})
	}
	a.printRows([]string{"ID", "NAME", "SIZE", "FLAGS", "TOPIC"}, []int{1, 4}, rows)
	return nil
}

func groupFlags(g ctl.Group) string {
	var f []string
	if g.Announce {
		f = append(f, "announce")
	}
	if g.Locked {
		f = append(f, "locked")
	}
	return strings.Join(f, ",")
}

func (a *app) groupInfo(ctx context.Context, args []string) error {
	g, err := groupArg(args[1])
	if err != nil {
		return err
	}
	r, done, err := callPrinting[ctl.Group](ctx, a, ctl.MethodGroupInfo, ctl.GroupParams{Client: args[0], Group: g})
	if done {
		return err
	}
	created := ""
	if !r.Created.IsZero() {
		created = since(r.Created)
	}
	a.printFields("id", r.ID, "name", r.Name, "topic", r.Topic, "owner", r.Owner, "created", created,
		"announce", onlyAdmins(r.Announce, "send messages"), "locked", onlyAdmins(r.Locked, "edit name, topic and picture"),
		"size", strconv.Itoa(r.Size))
	if len(r.Participants) == 0 {
		return nil
	}
	fmt.Fprintln(a.stdout)
	rows := make([][]string, 0, len(r.Participants))
	for _, p := range r.Participants {
		role := "member"
		switch {
		case p.SuperAdmin:
			role = "creator"
		case p.Admin:
			role = "admin"
		}
		rows = append(rows, []string{p.JID, p.Phone, p.LID, role})
	}
	a.printRows([]string{"PARTICIPANT", "PHONE", "LID", "ROLE"}, nil, rows)
	return nil
}

func onlyAdmins(on bool, what string) string {
	if on {
		return "yes (only admins " + what + ")"
	}
	return "no"
}

func (a *app) groupCreate(ctx context.Context, args []string) error {
	p := ctl.GroupCreateParams{Client: args[0], Name: args[1], Participants: args[2:]}
	if err := ctl.ValidateGroupName(p.Name); err != nil {
		return usageOf(err)
	}
	if _, err := ctl.ParseParticipants("PHONE", p.Participants); err != nil {
		return usageOf(err)
	}
	var r ctl.GroupCreateResult
	if err := a.client.Call(ctx, ctl.MethodGroupCreate, p, &r); err != nil {
		return err
	}
	if a.json {
		if err := a.printJSON(r); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(a.stdout, "created %s %q\n", r.Group.ID, r.Group.Name)
		a.participantTable(r.Participants, "added")
	}
	return partial(r.Participants, "added")
}

func (a *app) groupParticipants(ctx context.Context, args []string, action, done string) error {
	g, err := groupArg(args[1])
	if err != nil {
		return err
	}
	who := args[2:]
	if _, err := ctl.ParseParticipants("PHONE", who); err != nil {
		return usageOf(err)
	}
	p := ctl.ParticipantsParams{Client: args[0], Group: g}
	switch action {
	case ctl.ActionAdd:
		p.Add = who
	case ctl.ActionRemove:
		p.Remove = who
	case ctl.ActionPromote:
		p.Promote = who
	case ctl.ActionDemote:
		p.Demote = who
	}
	var r ctl.ParticipantsResult
	if err := a.client.Call(ctx, ctl.MethodGroupParticipants, p, &r); err != nil {
		return err
	}
	if a.json {
		if err := a.printJSON(r); err != nil {
			return err
		}
	} else {
		a.participantTable(r.Participants, done)
	}
	return partial(r.Participants, done)
}

// participantTable shows what became of each participant: RESULT is
// what was done or "refused CODE" (WhatsApp's status), INVITE the code
// WhatsApp issued for inviting someone it would not add (a column only
// when there is one), DETAIL WhatsApp's words.
func (a *app) participantTable(list []ctl.ParticipantResult, done string) {
	if len(list) == 0 {
		return
	}
	invites := false
	for _, p := range list {
		invites = invites || p.InviteCode != ""
	}
	header := []string{"PARTICIPANT", "RESULT", "DETAIL"}
	if invites {
		header = []string{"PARTICIPANT", "RESULT", "INVITE", "DETAIL"}
	}
	rows := make([][]string, 0, len(list))
	for _, p := range list {
		result := done
		if !p.OK {
			result = "refused"
			if p.Code != 0 {
				result += " " + strconv.Itoa(p.Code)
			}
		}
		row := []string{p.JID, result}
		if invites {
			inv := p.InviteCode
			if inv != "" && !p.InviteExpires.IsZero() {
				inv += " until " + p.InviteExpires.Local().Format("2006-01-02")
			}
			row = append(row, inv)
		}
		rows = append(rows, append(row, p.Error))
	}
	a.printRows(header, []int{len(header) - 1}, rows)
}

// partial is the error of a call in which WhatsApp refused some
// participants.
func partial(list []ctl.ParticipantResult, done string) error {
	n := 0
	for _, p := range list {
		if !p.OK {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	return &partialError{fmt.Sprintf("%d of %d participants not %s", n, len(list), done)}
}

func (a *app) groupLink(ctx context.Context, args []string, reset bool) error {
	g, err := groupArg(args[1])
	if err != nil {
		return err
	}
	r, done, err := callPrinting[ctl.InviteLinkResult](ctx, a, ctl.MethodGroupInvite, ctl.InviteLinkParams{Client: args[0], Group: g, Reset: reset})
	if done {
		return err
	}
	fmt.Fprintln(a.stdout, r.Link)
	return nil
}

func (a *app) groupJoin(ctx context.Context, args []string) error {
	if _, err := ctl.ParseInviteLink(args[1]); err != nil {
		return usageOf(err)
	}
	r, done, err := callPrinting[ctl.JoinResult](ctx, a, ctl.MethodGroupJoin, ctl.JoinParams{Client: args[0], Link: args[1]})
	if done {
		return err
	}
	fmt.Fprintf(a.stdout, "%s: joined %s\n", args[0], r.Group)
	return nil
}

func (a *app) groupLeave(ctx context.Context, args []string) error {
	g, err := groupArg(args[1])
	if err != nil {
		return err
	}
	_, done, err := callPrinting[ctl.OK](ctx, a, ctl.MethodGroupLeave, ctl.GroupParams{Client: args[0], Group: g})
	if done {
		return err
	}
	fmt.Fprintf(a.stdout, "%s: left %s\n", args[0], g)
	return nil
}

// optBool is a boolean flag that knows whether it was given.
type optBool struct{ v *bool }

func (b *optBool) IsBoolFlag() bool { return true }

func (b *optBool) String() string {
	if b == nil || b.v == nil {
		return ""
	}
	return strconv.FormatBool(*b.v)
}

func (b *optBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("want true or false")
	}
	b.v = &v
	return nil
}

func groupSetFlags(fs *flag.FlagSet) func(*app, context.Context, []string) error {
	name := fs.String("name", "", "the group's new `NAME`")
	topic := fs.String("topic", "", "the group's new description `TOPIC` (\"\" removes it)")
	var announce, locked optBool
	fs.Var(&announce, "announce", "only admins may send messages (=false: everyone)")
	fs.Var(&locked, "locked", "only admins may edit name, topic and picture (=false: everyone)")
	return func(a *app, ctx context.Context, args []string) error {
		g, err := groupArg(args[1])
		if err != nil {
			return err
		}
		p := ctl.GroupSetParams{Client: args[0], Group: g, Announce: announce.v, Locked: locked.v}
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "name":
				p.Name = name
			case "topic":
				p.Topic = topic
			}
		})
		switch {
		case p.Name == nil && p.Topic == nil && p.Announce == nil && p.Locked == nil:
			return usagef("nothing to change: give --name, --topic, --announce or --locked")
		case p.Name != nil && ctl.ValidateGroupName(*p.Name) != nil:
			return usagef("--name: %v", ctl.ValidateGroupName(*p.Name))
		case p.Topic != nil && len(*p.Topic) > ctl.MaxGroupTopicLen:
			return usagef("--topic is %d bytes; the limit is %d", len(*p.Topic), ctl.MaxGroupTopicLen)
		}
		_, done, err := callPrinting[ctl.OK](ctx, a, ctl.MethodGroupSet, p)
		if done {
			return err
		}
		var changed []string
		if p.Name != nil {
			changed = append(changed, "name "+strconv.Quote(*p.Name))
		}
		if p.Topic != nil {
			if *p.Topic == "" {
				changed = append(changed, "topic removed")
			} else {
				changed = append(changed, "topic "+strconv.Quote(*p.Topic))
			}
		}
		if p.Announce != nil {
			changed = append(changed, "announce "+strconv.FormatBool(*p.Announce))
		}
		if p.Locked != nil {
			changed = append(changed, "locked "+strconv.FormatBool(*p.Locked))
		}
		fmt.Fprintf(a.stdout, "%s: set %s\n", g, strings.Join(changed, ", "))
		return nil
	}
}

func (a *app) profile(ctx context.Context, args []string) error {
	r, done, err := callPrinting[ctl.Profile](ctx, a, ctl.MethodProfile, ctl.ClientParams{Client: args[0]})
	if done {
		return err
	}
	a.printFields("jid", r.JID, "lid", r.LID, "name", r.Name, "about", r.About, "picture id", r.PictureID, "picture url", r.PictureURL)
	return nil
}

func profileSetFlags(fs *flag.FlagSet) func(*app, context.Context, []string) error {
	name := fs.String("name", "", "the account's new push `NAME`")
	about := fs.String("about", "", "the account's new `ABOUT` text")
	picture := fs.String("picture", "", "set the profile picture to the image `FILE` (- for stdin)")
	remove := fs.Bool("remove-picture", false, "remove the profile picture")
	return func(a *app, ctx context.Context, args []string) error {
		p := ctl.ProfileSetParams{Client: args[0], RemovePicture: *remove}
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "name":
				p.Name = name
			case "about":
				p.About = about
			}
		})
		switch {
		case p.Name == nil && p.About == nil && *picture == "" && !*remove:
			return usagef("nothing to change: give --name, --about, --picture or --remove-picture")
		case *picture != "" && *remove:
			return usagef("--picture and --remove-picture: give one")
		case p.Name != nil && ctl.ValidatePushName(*p.Name) != nil:
			return usagef("--name: %v", ctl.ValidatePushName(*p.Name))
		case p.About != nil && len(*p.About) > ctl.MaxAboutLen:
			return usagef("--about is %d bytes; the limit is %d", len(*p.About), ctl.MaxAboutLen)
		}
		var files []*os.File
		if *picture != "" {
			f, done, err := a.openMedia(*picture)
			if err != nil {
				if ue := (*usageError)(nil); errors.As(err, &ue) {
					return usagef("%s", strings.Replace(ue.msg, "--file", "--picture", 1))
				}
				return err
			}
			defer done()
			files = append(files, f)
			fd := 0
			p.Picture = &ctl.Media{Kind: ctl.MediaImage, FD: &fd}
		}
		var r ctl.ProfileSetResult
		if err := a.client.CallFiles(ctx, ctl.MethodProfileSet, p, &r, files...); err != nil {
			return err
		}
		if a.json {
			return a.printJSON(r)
		}
		var changed []string
		if p.Name != nil {
			changed = append(changed, "name "+strconv.Quote(*p.Name))
		}
		if p.About != nil {
			changed = append(changed, "about "+strconv.Quote(*p.About))
		}
		if p.Picture != nil {
			s := "picture"
			if r.PictureID != "" {
				s += " " + r.PictureID
			}
			changed = append(changed, s)
		}
		if p.RemovePicture {
			changed = append(changed, "picture removed")
		}
		fmt.Fprintf(a.stdout, "%s: set %s\n", p.Client, strings.Join(changed, ", "))
		return nil
	}
}

func (a *app) presenceSubscribe(ctx context.Context, args []string) error {
	p := ctl.JIDParams{Client: args[0], JID: args[1]}
	if _, err := ctl.ParseUserJID("JID", p.JID); err != nil {
		return usageOf(err)
	}
	_, done, err := callPrinting[ctl.OK](ctx, a, ctl.MethodPresenceSubscribe, p)
	if done {
		return err
	}
	fmt.Fprintf(a.stdout, "%s: subscribed to the presence of %s (wactl watch %s --kinds presence shows it)\n", p.Client, p.JID, p.Client)
	return nil
}

func (a *app) callReject(ctx context.Context, args []string, text string) error {
	p := ctl.CallRejectParams{Client: args[0], ID: args[1], From: args[2], Text: text}
	if _, err := ctl.ParseUserJID("FROM", p.From); err != nil {
		return usageOf(err)
	}
	if err := ctl.ValidateMessageID("ID", p.ID); err != nil {
		return usageOf(err)
	}
	if text != "" {
		if err := ctl.ValidateText(text); err != nil {
			return usagef("--text: %v", err)
		}
	}
	_, done, err := callPrinting[ctl.OK](ctx, a, ctl.MethodCallReject, p)
	if done {
		return err
	}
	msg := fmt.Sprintf("%s: rejected call %s from %s", p.Client, p.ID, p.From)
	if text != "" {
		msg += " and sent " + strconv.Quote(text)
	}
	fmt.Fprintln(a.stdout, msg)
	return nil
}

// callPrinting calls method and, with --json, prints its result: done
// says the command has nothing left to do but return err.
func callPrinting[R any](ctx context.Context, a *app, method string, params any) (r R, done bool, err error) {
	if err := a.client.Call(ctx, method, params, &r); err != nil {
		return r, true, err
	}
	if a.json {
		return r, true, a.printJSON(r)
	}
	return r, false, nil
}
