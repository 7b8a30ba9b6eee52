package whatsmeow

import (
	"sync"
	"time"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"
)

// recentPerSession is how many messages a session remembers for
// replies, reactions, edits, revokes, read marks and downloads.
const recentPerSession = 1024

// recent remembers the last messages a session sent and received, by
// chat and id: what a reply quotes, whom a reaction or read mark is
// addressed to, and the keys of media to download. It is memory only and
// bounded; thumbnails are dropped from what it keeps.
type recent struct {
	mu    sync.Mutex
	byKey map[recentKey]*recentMsg
	order []recentKey // ring, oldest first from next
	next  int
}

type recentKey struct{ chat, id string }

// recentMsg is one remembered message.
type recentMsg struct {
	chat, sender types.JID // sender: the user JID (no device) of who sent it
	fromMe       bool
	at           time.Time
	msg          *waE2E.Message
	read         bool // marked read by this session (received ones)
}

func newRecent() *recent {
	return &recent{byKey: make(map[recentKey]*recentMsg), order: make([]recentKey, 0, 64)}
}

// add remembers a message, replacing one with the same key.
func (c *recent) add(id string, m *recentMsg) {
	m.msg = withoutThumbnails(m.msg)
	k := recentKey{m.chat.ToNonAD().String(), id}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byKey[k]; ok {
		c.byKey[k] = m
		return
	}
	if len(c.order) < recentPerSession {
		c.order = append(c.order, k)
	} else {
		delete(c.byKey, c.order[c.next])
		c.order[c.next] = k
		c.next = (c.next + 1) % recentPerSession
	}
	c.byKey[k] = m
}

// get returns the message id of chat, or nil.
func (c *recent) get(chat types.JID, id string) *recentMsg {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m := c.byKey[recentKey{chat.ToNonAD().String(), id}]; m != nil {
		cp := *m
		return &cp
	}
	return nil
}

// update applies f to the message id of chat, if remembered.
func (c *recent) update(chat types.JID, id string, f func(*recentMsg)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m := c.byKey[recentKey{chat.ToNonAD().String(), id}]; m != nil {
		f(m)
	}
}

// unread returns the ids of messages received in chat and not yet
// marked read, each with its sender, oldest first.
func (c *recent) unread(chat types.JID) (ids []string, senders []types.JID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	want := chat.ToNonAD().String()
	n := len(c.order)
	for i := range n {
		k := c.order[(c.next+i)%n]
		if m := c.byKey[k]; k.chat == want && m != nil && !m.fromMe && !m.read {
			ids = append(ids, k.id)
			senders = append(senders, m.sender)
		}
	}
	return ids, senders
}

// withoutThumbnails returns msg without the inline JPEG previews, which
// are most of a media message's size; the rest is kept as sent.
func withoutThumbnails(msg *waE2E.Message) *waE2E.Message {
	if msg == nil {
		return nil
	}
	img, vid, doc := msg.GetImageMessage(), msg.GetVideoMessage(), msg.GetDocumentMessage()
	if img.GetJPEGThumbnail() == nil && vid.GetJPEGThumbnail() == nil && doc.GetJPEGThumbnail() == nil {
		return msg
	}
	msg = proto.Clone(msg).(*waE2E.Message)
	if m := msg.GetImageMessage(); m != nil {
		m.JPEGThumbnail = nil
	}
	if m := msg.GetVideoMessage(); m != nil {
		m.JPEGThumbnail = nil
	}
	if m := msg.GetDocumentMessage(); m != nil {
		m.JPEGThumbnail = nil
	}
	return msg
}
