package daemon

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// standIns lets a request sent with "id": null be answered. In JSON-RPC
// 2.0 only a request without an id member is a notification; one whose id
// is null gets a reply, with id null. jrpc2 v1.3.6 treats both as
// notifications, so the line channel hands jrpc2 such a request under a
// stand-in id unique on its connection, and puts null back into the reply.
// A stand-in is a string that starts with U+0000 ("\u0000null-7"). The
// zero value is ready; the line channel's lock guards it.
type standIns struct {
	next uint64
	live map[string]bool // stand-ins whose reply is not written yet
}

// any reports whether a stand-in awaits its reply.
func (s *standIns) any() bool { return len(s.live) > 0 }

// assign returns line (a request or a batch) with the null id of each
// request replaced by a fresh stand-in. A line it cannot decode is
// returned as it is, for jrpc2 to reject.
func (s *standIns) assign(line []byte) []byte {
	return eachObject(bytes.TrimSpace(line), s.assignOne)
}

// eachObject returns msg, an object or a batch of them, with f applied to
// the object or to each object of the batch; msg itself when it is not a
// batch that decodes.
func eachObject(msg []byte, f func([]byte) []byte) []byte {
	if len(msg) == 0 || msg[0] != '[' {
		return f(msg)
	}
	var batch []json.RawMessage
	if json.Unmarshal(msg, &batch) != nil {
		return msg
	}
	for i, m := range batch {
		batch[i] = f(m)
	}
	b, err := json.Marshal(batch)
	if err != nil {
		return msg
	}
	return b
}

func (s *standIns) assignOne(obj []byte) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(obj, &m) != nil || !isNull(m["id"]) {
		return obj
	}
	s.next++
	id := `"\u0000null-` + strconv.FormatUint(s.next, 10) + `"`
	m["id"] = json.RawMessage(id)
	b, err := json.Marshal(m)
	if err != nil {
		return obj
	}
	if s.live == nil {
		s.live = make(map[string]bool)
	}
	s.live[id] = true
	return b
}

// restore returns msg, a response or batch of responses whose ids are
// ids, with every stand-in among them put back to null; the stand-ins are
// then forgotten. msg comes back unchanged when it holds none.
func (s *standIns) restore(msg []byte, ids []json.RawMessage) []byte {
	hit := false
	for _, id := range ids {
		hit = hit || s.live[string(id)]
	}
	if !hit {
		return msg
	}
	return eachObject(msg, s.restoreOne)
}

func (s *standIns) restoreOne(obj []byte) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(obj, &m) != nil || !s.live[string(m["id"])] {
		return obj
	}
	delete(s.live, string(m["id"]))
	m["id"] = json.RawMessage("null")
	b, err := json.Marshal(m)
	if err != nil {
		return obj
	}
	return b
}

// isNull reports whether a raw JSON value is null.
func isNull(v json.RawMessage) bool { return string(v) == "null" }
