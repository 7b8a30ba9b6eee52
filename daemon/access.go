package daemon

import (
	"fmt"
	"os"
	"os/user"
	"path"
	"slices"
	"strconv"

	"github.com/wad-project/wad/ctl"
)

// AccessRule is one [[access]] entry: the users and groups it names may
// read (status, list, events) or write (login, logout, stop, send) the
// clients it names. With no rules at all, the socket's permissions are the
// only gate. With rules, a peer needs a rule for what it does; root and the
// daemon's own user are always allowed.
type AccessRule struct {
	// Users are user names or numeric uids.
	Users []string `toml:"users"`
	// Groups are group names or numeric gids; a peer matches by its
	// primary or any supplementary group.
	Groups []string `toml:"groups"`
	// Clients are client ids or shell patterns ("sales-*"); empty means
	// every client.
	Clients []string `toml:"clients"`
	// Allow is "read" or "write" (write includes read).
	Allow string `toml:"allow"`

	uids, gids []int
	level      ctl.Access
}

func (r *AccessRule) compile() error {
	r.uids, r.gids = nil, nil
	switch r.Allow {
	case "read":
		r.level = ctl.Read
	case "write":
		r.level = ctl.Write
	default:
		return fmt.Errorf("allow: %q is not read or write", r.Allow)
	}
	if len(r.Users) == 0 && len(r.Groups) == 0 {
		return fmt.Errorf("names no users and no groups")
	}
	for _, u := range r.Users {
		id, err := strconv.Atoi(u)
		if err != nil {
			uu, lerr := user.Lookup(u)
			if lerr != nil {
				return fmt.Errorf("users: %w", lerr)
			}
			id, _ = strconv.Atoi(uu.Uid)
		}
		r.uids = append(r.uids, id)
	}
	for _, g := range r.Groups {
		id, err := strconv.Atoi(g)
		if err != nil {
			gg, lerr := user.LookupGroup(g)
			if lerr != nil {
				return fmt.Errorf("groups: %w", lerr)
			}
			id, _ = strconv.Atoi(gg.Gid)
		}
		r.gids = append(r.gids, id)
	}
	for _, c := range r.Clients {
		if _, err := path.Match(c, ""); err != nil {
			return fmt.Errorf("clients: bad pattern %q", c)
		}
	}
	return nil
}

func (r *AccessRule) matchesPeer(p *peer) bool {
	if slices.Contains(r.uids, p.UID) {
		return true
	}
	for _, g := range r.gids {
		if g == p.GID || slices.Contains(p.Groups, g) {
			return true
		}
	}
	return false
}

func (r *AccessRule) matchesClient(client string) bool {
	if len(r.Clients) == 0 || client == "" {
		return true
	}
	for _, pat := range r.Clients {
		if ok, _ := path.Match(pat, client); ok {
			return true
		}
	}
	return false
}

// accessPolicy decides what a peer may do. It is replaced whole on reload.
type accessPolicy struct {
	rules []AccessRule
	self  int
	// strict drops the root exemption (tests only).
	strict bool
}

func newAccessPolicy(rules []AccessRule) *accessPolicy {
	return &accessPolicy{rules: rules, self: os.Getuid()}
}

// allowed reports whether p may act at level on client ("" for the
// daemon-wide read methods: allowed if p has any read rule).
func (a *accessPolicy) allowed(p *peer, level ctl.Access, client string) bool {
	if len(a.rules) == 0 || p == nil || (p.UID == 0 && !a.strict) || p.UID == a.self {
		return true
	}
	for i := range a.rules {
		r := &a.rules[i]
		if r.level >= level && r.matchesPeer(p) && r.matchesClient(client) {
			return true
		}
	}
	return false
}

// allowedAll reports whether p may act at level on every client, present
// and future: a rule that names no clients (or no rules at all).
func (a *accessPolicy) allowedAll(p *peer, level ctl.Access) bool {
	if len(a.rules) == 0 || p == nil || (p.UID == 0 && !a.strict) || p.UID == a.self {
		return true
	}
	for i := range a.rules {
		r := &a.rules[i]
		if r.level >= level && r.matchesPeer(p) && len(r.Clients) == 0 {
			return true
		}
	}
	return false
}

func (a *accessPolicy) check(p *peer, level ctl.Access, client string) error {
	if a.allowed(p, level, client) {
		return nil
	}
	what := "read"
	if level == ctl.Write {
		what = "change"
	}
	if client == "" {
		return ctl.Errorf(ctl.CodePermissionDenied, "permission denied: uid %d may not %s wad's state (see [[access]] in the config)", p.UID, what)
	}
	return ctl.Errorf(ctl.CodePermissionDenied, "permission denied: uid %d may not %s client %q (see [[access]] in the config)", p.UID, what, client)
}
