package main

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/wad-project/wad/ctl"
)

// formatEvent renders one event as a line for `wactl watch`: the time,
// the event's seq (#SEQ; none for the kinds that are not logged), the
// client, the kind, and what happened.
func formatEvent(ev ctl.Event) string {
	var b strings.Builder
	b.WriteString(ev.Time.Local().Format("15:04:05"))
	if ev.Seq != 0 {
		fmt.Fprintf(&b, " #%d", ev.Seq)
	}
	if ev.Client != "" {
		b.WriteString(" " + ev.Client)
	}
	b.WriteString(" " + ev.Kind)
	switch ev.Kind {
	case ctl.KindEventsDropped:
		if r := ev.EventsDropped; r != nil {
			if r.From == r.To {
				fmt.Fprintf(&b, ": event #%d was pruned from the log before it was read", r.From)
			} else {
				fmt.Fprintf(&b, ": events #%d-#%d were pruned from the log before they were read", r.From, r.To)
			}
		}
	case ctl.KindState:
		if s := ev.Session; s != nil {
			fmt.Fprintf(&b, " %s", s.State)
			if d := detail(*s); d != "-" {
				fmt.Fprintf(&b, " (%s)", d)
			}
		}
	case ctl.KindQR:
		fmt.Fprintf(&b, " %s", ev.QR)
	case ctl.KindMessage:
		if m := ev.Message; m != nil {
			fmt.Fprintf(&b, " %s from %s in %s", m.ID, sender(m), m.Chat)
			if c := messageContent(m); c != "" {
				fmt.Fprintf(&b, ": %s", c)
			}
			if m.ReplyTo != "" {
				fmt.Fprintf(&b, " (reply to %s)", m.ReplyTo)
			}
			if len(m.Mentions) > 0 {
				fmt.Fprintf(&b, " mentioning %s", strings.Join(m.Mentions, ", "))
			}
		}
	case ctl.KindReaction:
		if m := ev.Message; m != nil {
			if m.Emoji == "" {
				fmt.Fprintf(&b, " removed from %s", m.TargetID)
			} else {
				fmt.Fprintf(&b, " %s to %s", m.Emoji, m.TargetID)
			}
			fmt.Fprintf(&b, " by %s in %s", sender(m), m.Chat)
		}
	case ctl.KindEdit:
		if m := ev.Message; m != nil {
			fmt.Fprintf(&b, " %s by %s in %s: %q", m.TargetID, sender(m), m.Chat, m.Text)
		}
	case ctl.KindRevoke:
		if m := ev.Message; m != nil {
			fmt.Fprintf(&b, " %s by %s in %s", m.TargetID, sender(m), m.Chat)
		}
	case ctl.KindReceipt:
		if r := ev.Receipt; r != nil {
			ids := append([]string(nil), r.IDs...)
			sort.Strings(ids)
			fmt.Fprintf(&b, " %s by %s in %s: %s", r.Type, r.Sender, r.Chat, strings.Join(ids, ","))
		}
	case ctl.KindCheckProgress:
		if c := ev.Check; c != nil {
			on := 0
			for _, r := range c.Results {
				if r.OnWhatsApp {
					on++
				}
			}
			fmt.Fprintf(&b, " %d/%d checked (%d of this batch of %d on WhatsApp)", c.Done, c.Total, on, len(c.Results))
		}
	case ctl.KindGroup:
		if g := ev.Group; g != nil {
			fmt.Fprintf(&b, " %s %s", g.Group, groupChange(g))
			if g.Author != "" {
				fmt.Fprintf(&b, " by %s", g.Author)
			}
		}
	case ctl.KindPresence:
		if p := ev.Presence; p != nil {
			if p.Available {
				fmt.Fprintf(&b, " %s online", p.JID)
			} else {
				fmt.Fprintf(&b, " %s offline", p.JID)
			}
			if !p.LastSeen.IsZero() {
				fmt.Fprintf(&b, " (last seen %s)", since(p.LastSeen))
			}
		}
	case ctl.KindChatPresence:
		if p := ev.ChatPresence; p != nil {
			fmt.Fprintf(&b, " %s %s in %s", p.Sender, p.State, p.Chat)
		}
	case ctl.KindCall:
		if c := ev.Call; c != nil {
			kind := "voice call"
			if c.Video {
				kind = "video call"
			}
			fmt.Fprintf(&b, " %s %s %s from %s", c.State, kind, c.ID, c.From)
			if c.Group != "" {
				fmt.Fprintf(&b, " in %s", c.Group)
			}
			if c.Reason != "" {
				fmt.Fprintf(&b, " (%s)", c.Reason)
			}
		}
	case ctl.KindContact:
		if c := ev.Contact; c != nil {
			fmt.Fprintf(&b, " %s", c.JID)
			if c.PushName != "" {
				fmt.Fprintf(&b, " is now %q", c.PushName)
			}
			if c.Picture {
				if c.PictureID != "" {
					fmt.Fprintf(&b, " changed their picture (%s)", c.PictureID)
				} else {
					fmt.Fprintf(&b, " removed their picture")
				}
			}
		}
	}
	if ev.Dropped > 0 {
		fmt.Fprintf(&b, " [%d earlier events dropped]", ev.Dropped)
	}
	return b.String()
}

// sender names who wrote a message: its sender, "me" for this account
// when the event names none.
func sender(m *ctl.Message) string {
	if m.Sender == "" && m.FromMe {
		return "me"
	}
	return m.Sender
}

// messageContent renders what a message says: its text, or its media,
// location or contact in brackets followed by any caption.
func messageContent(m *ctl.Message) string {
	switch {
	case m.Media != nil:
		s := "[" + mediaSummary(m.Media) + "]"
		if m.Caption != "" {
			s += " " + strconv.Quote(m.Caption)
		}
		if m.Text != "" && m.Text != m.Caption {
			s += " " + strconv.Quote(m.Text)
		}
		return s
	case m.Location != nil:
		l := m.Location
		s := "[location " + strconv.FormatFloat(l.Lat, 'f', -1, 64) + "," + strconv.FormatFloat(l.Lon, 'f', -1, 64)
		if l.Name != "" {
			s += " " + strconv.Quote(l.Name)
		}
		if l.Address != "" {
			s += " " + strconv.Quote(l.Address)
		}
		return s + "]"
	case m.Contact != nil:
		return fmt.Sprintf("[contact %q %s]", m.Contact.Name, m.Contact.Phone)
	case m.Text != "":
		return strconv.Quote(m.Text)
	case m.Type != "":
		s := "[" + m.Type + "]"
		if m.Caption != "" {
			s += " " + strconv.Quote(m.Caption)
		}
		return s
	}
	return ""
}

// mediaSummary is "image 1.2 MB 640x480 photo.jpg" and the like.
func mediaSummary(mi *ctl.MediaInfo) string {
	parts := []string{mi.Kind}
	if mi.Animated {
		parts = append(parts, "animated")
	}
	if mi.Size > 0 {
		parts = append(parts, humanSize(mi.Size))
	}
	if mi.Width > 0 && mi.Height > 0 {
		parts = append(parts, fmt.Sprintf("%dx%d", mi.Width, mi.Height))
	}
	if mi.Seconds > 0 {
		s := int(mi.Seconds + 0.5)
		parts = append(parts, fmt.Sprintf("%d:%02d", s/60, s%60))
	}
	if mi.Pages > 0 {
		parts = append(parts, fmt.Sprintf("%d pages", mi.Pages))
	}
	if mi.Filename != "" {
		name := mi.Filename
		if strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == '"' || r == ']' }) {
			name = strconv.Quote(name)
		}
		parts = append(parts, name)
	}
	if !mi.Downloadable {
		parts = append(parts, "(not downloadable)")
	}
	return strings.Join(parts, " ")
}

// groupChange says what a group event changed.
func groupChange(g *ctl.GroupChange) string {
	onOff := func(what string) string {
		if g.Value == nil {
			return what + " changed"
		}
		if *g.Value {
			return what + " on"
		}
		return what + " off"
	}
	switch g.Type {
	case ctl.GroupJoined:
		s := "joined"
		if g.Info != nil && g.Info.Name != "" {
			s += fmt.Sprintf(" %q (%d participants)", g.Info.Name, g.Info.Size)
		}
		return s
	case ctl.GroupLeft:
		return "left"
	case ctl.GroupAdd, ctl.GroupRemove, ctl.GroupPromote, ctl.GroupDemote:
		return g.Type + " " + strings.Join(g.Participants, ", ")
	case ctl.GroupName:
		return "name " + strconv.Quote(g.Name)
	case ctl.GroupTopic:
		if g.Topic == "" {
			return "topic removed"
		}
		return "topic " + strconv.Quote(g.Topic)
	case ctl.GroupAnnounce:
		return onOff("announce (only admins send)")
	case ctl.GroupLocked:
		return onOff("locked (only admins edit)")
	case ctl.GroupPicture:
		if g.PictureID == "" {
			return "picture removed"
		}
		return "picture " + g.PictureID
	}
	s := g.Type
	if len(g.Participants) > 0 {
		s += " " + strings.Join(g.Participants, ", ")
	}
	return s
}
