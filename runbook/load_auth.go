package runbook

import (
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

var authKeys = []string{"key", "key_file", "key_passphrase", "password", "agent"}

// authMethods are the auth keys of which exactly one must be given.
var authMethods = []string{"key", "key_file", "password", "agent"}

func (l *loader) decodeAuth(n *yaml.Node) *Auth {
	fs := l.mapping(n, "auth")
	l.only(fs, "auth", authKeys...)
	a := &Auth{
		Key:           l.secretOrText(fs.get("key"), "key"),
		KeyPassphrase: l.secretOrText(fs.get("key_passphrase"), "key_passphrase"),
		Password:      l.secretOrText(fs.get("password"), "password"),
		Agent:         l.boolean(fs.get("agent"), "agent"),
		Pos:           pos(fs.node),
	}
	if v := fs.get("key_file"); v != nil {
		p := l.nonEmpty(v, "key_file")
		if strings.HasPrefix(p, secretPrefix) {
			l.errorf(v, "key_file is a path on this machine; to keep the key in the vault write key: %s", p)
		} else {
			a.KeyFile = l.localPath(v, p)
		}
	}
	var methods []string
	for _, f := range fs.list {
		m := f.key.Value
		if !slices.Contains(authMethods, m) || m == "agent" && !a.Agent {
			continue
		}
		if len(methods) == 1 {
			l.errorf(f.key, "auth takes one of key, key_file, password or agent, not both %s and %s: keep one", methods[0], m)
		}
		methods = append(methods, m)
	}
	if len(methods) == 0 && fs.node != nil && (fs.node.Kind == yaml.MappingNode || isNull(fs.node)) {
		l.errorf(n, "auth names no way to log in: give key: secret:NAME, key_file: PATH, password: secret:NAME or agent: true")
	}
	if v := fs.get("key_passphrase"); v != nil && fs.get("key") == nil && fs.get("key_file") == nil {
		l.errorf(fs.keyNode("key_passphrase"), "key_passphrase unlocks a key, but auth has neither key nor key_file: add one or remove key_passphrase")
	}
	return a
}

// secretOrText reads a credential: text as written, or a secret:NAME
// reference that must be well formed, since a typo there would only show
// on the release night.
func (l *loader) secretOrText(n *yaml.Node, key string) string {
	if n == nil {
		return ""
	}
	s := l.nonEmpty(n, key)
	if strings.HasPrefix(s, secretPrefix) {
		if name, ok := ParseSecretRef(s); ok {
			l.noteSecretRef(name, pos(n)) // for validate's vault check
		} else {
			l.errorf(n, "%s: malformed secret reference %q: write secret:NAME, NAME made of letters, digits and _ . / -", key, s)
		}
	}
	return s
}
