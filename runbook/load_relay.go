package runbook

import (
	"strings"

	"go.yaml.in/yaml/v3"
)

var relayKeys = []string{"host", "key_file"}

// decodeRelay reads the relay of an upload step: `relay: HOST`, or
// `relay: {host: HOST, key_file: PATH}` when the relay logs in to the
// step's hosts with its own key. env is nil when on is missing or wrong
// (already reported); the checks that need it are then skipped.
func (l *loader) decodeRelay(s *Step, fs fields, env *Environment, what string) {
	n := fs.get("relay")
	if n == nil {
		return
	}
	if s.Kind != KindUpload {
		l.errorf(fs.keyNode("relay"), "relay belongs to upload steps: %s is %s step; remove relay", what, article(s.Kind))
		return
	}
	r := &Relay{Pos: pos(n)}
	hostNode := n
	switch l.deref(n).Kind {
	case yaml.MappingNode:
		rf := l.mapping(n, "relay of "+what)
		l.only(rf, "relay of "+what, relayKeys...)
		hostNode = rf.get("host")
		if hostNode == nil {
			l.errorf(n, "relay of %s has no host: write relay: {host: HOST} with a host of another environment", what)
			return
		}
		if k := rf.get("key_file"); k != nil {
			r.KeyFile = l.nonEmpty(k, "relay key_file")
		}
	case yaml.ScalarNode:
	default:
		l.errorf(n, "relay must be a host name, or {host: HOST, key_file: PATH}, not %s", describe(n))
		return
	}
	r.Host = l.nonEmpty(hostNode, "relay")
	if r.Host == "" {
		return
	}
	s.Relay = r
	h := l.rb.HostByName(r.Host)
	switch {
	case h == nil:
		var others []string
		for _, en := range l.rb.EnvOrder {
			if env == nil || en != env.Name {
				for _, o := range l.rb.Envs[en].Hosts {
					others = append(others, o.Name)
				}
			}
		}
		l.errorf(hostNode, "relay %q names no host of another environment%s", r.Host, didYouMean(r.Host, others))
		return
	case h.Local:
		l.errorf(hostNode, "relay %q is a local host: a relay must be a host reached over SSH, like the prerelease host", r.Host)
		return
	case env != nil && h.Env == env:
		l.errorf(hostNode, "relay %q is a host of environment %q itself: the relay belongs to another environment and sends the artifact to this one", r.Host, env.Name)
		return
	case h.DeployDir == "":
		l.errorf(hostNode, "relay %q has no deploy_dir, where the artifact is staged for the copies: set deploy_dir on it or on environment %q", r.Host, h.Env.Name)
	}
	if env == nil {
		return
	}
	if env.Local {
		l.errorf(hostNode, "%s runs on local environment %q, where there is nothing to relay to: remove relay", what, env.Name)
		return
	}
	if r.KeyFile != "" {
		return
	}
	// A relay is lent a key, never a password: a host that logs in with
	// a password alone has none to lend.
	var keyless []string
	for _, t := range env.Hosts {
		if a := t.Auth; a != nil && a.Key == "" && a.KeyFile == "" && !a.Agent && a.Password != "" {
			keyless = append(keyless, t.Name)
		}
	}
	if len(keyless) > 0 {
		l.errorf(hostNode, "relay %q would be lent the key of %s, which log in with a password and have no key: give them auth key, key_file or agent, or let the relay log in with its own key, relay: {host: %s, key_file: PATH}", r.Host, strings.Join(keyless, ", "), r.Host)
	}
}
