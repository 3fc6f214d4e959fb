package runbook

import (
	"fmt"
	"strings"
)

// checkHostNames makes host names unique across all environments, since
// --host, via and the logs name a host alone. Only the implicit hosts of
// local environments may share their name.
func (l *loader) checkHostNames() {
	seen := map[string]*Host{}
	for _, en := range l.rb.EnvOrder {
		for _, h := range l.rb.Envs[en].Hosts {
			if h.Name == "" {
				continue
			}
			first := seen[h.Name]
			if first == nil {
				seen[h.Name] = h
				continue
			}
			switch {
			case l.implicit[h] && l.implicit[first]:
			case l.implicit[h]:
				l.add(first.Pos, "host name %q is also the implicit host of local environment %q: rename this host", h.Name, h.Env.Name)
			case l.implicit[first]:
				l.add(h.Pos, "host name %q is taken by the implicit host of local environment %q: rename this host", h.Name, first.Env.Name)
			default:
				l.add(h.Pos, "host name %q is already used in environment %q (line %d): host names are unique across environments", h.Name, first.Env.Name, first.Pos.Line)
			}
		}
	}
}

// checkVia checks that a jump host is a remote host of another
// environment, or written out as user@host[:port].
func (l *loader) checkVia(env *Environment) {
	n := l.viaNodes[env]
	if n == nil {
		return
	}
	via := env.Via
	if env.Local {
		l.errorf(n, "environment %q is local and runs on this machine, so it takes no via: remove it", env.Name)
		return
	}
	if user, addr, ok := strings.Cut(via, "@"); ok {
		if user == "" {
			l.errorf(n, "via %q has no user before @: write user@host[:port]", via)
		} else if msg := checkHostPort(addr, false); msg != "" {
			l.errorf(n, "via %q: the part after @ %s", via, msg)
		}
		return
	}
	h := l.rb.HostByName(via)
	switch {
	case h == nil:
		var others []string
		for _, en := range l.rb.EnvOrder {
			if en == env.Name {
				continue
			}
			for _, o := range l.rb.Envs[en].Hosts {
				others = append(others, o.Name)
			}
		}
		l.errorf(n, "via %q names no host of another environment: name one, or write user@host:port%s", via, didYouMean(via, others))
	case h.Env == env:
		l.errorf(n, "via %q is a host of environment %q itself: a jump host belongs to another environment", via, env.Name)
	case h.Local:
		l.errorf(n, "via %q is a local host: a jump host must be reachable over SSH", via)
	}
}

// checkViaLoops rejects jump hosts that lead back to where they started,
// which would make connecting recurse forever.
func (l *loader) checkViaLoops() {
	next := func(env *Environment) *Environment {
		if h := l.rb.HostByName(env.Via); env.Via != "" && h != nil && h.Env != env && !h.Local {
			return h.Env
		}
		return nil
	}
	for _, en := range l.rb.EnvOrder {
		start := l.rb.Envs[en]
		path := []string{start.Name}
		for env := next(start); env != nil && len(path) <= len(l.rb.EnvOrder); env = next(env) {
			path = append(path, env.Name)
			if env == start {
				l.errorf(l.viaNodes[start], "via goes round in a loop (%s): one of these environments must be reachable directly", strings.Join(path, " → "))
				break
			}
		}
	}
}

// envNames lists the environments for messages.
func (l *loader) envNames() string {
	if len(l.rb.EnvOrder) == 0 {
		return "none are defined: add them under environments:"
	}
	return fmt.Sprintf("it is one of %s", quoteList(l.rb.EnvOrder, "or"))
}
