package runbook

import (
	"fmt"
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
	switch {
	case strings.HasPrefix(s, secretPrefix):
		if name, ok := ParseSecretRef(s); ok {
			l.noteSecretRef(name, pos(n)) // for validate's vault check
		} else {
			l.errorf(n, "%s: malformed secret reference %q: write secret:NAME, NAME made of letters, digits and _ . / -", key, s)
		}
	case strings.TrimSpace(s) != "":
		// It works (a lab, a first try), but whoever can read the file or
		// its history has the credential, and it is masked only because
		// runbook registers it (InlineSecrets).
		l.warn(pos(n), fmt.Sprintf("keep it in the vault instead: `runbook vault set NAME`, then write %s: secret:NAME", key),
			"%s is written in the runbook file in plain text: whoever can read the file, or its history, has it", key)
	}
	return s
}

// InlineSecrets lists the credentials written in the runbook file in
// plain text (an auth key, key_passphrase or password that is not a
// secret:NAME reference), so that commands register them with the masker
// like vault secrets: they must not show in output, logs or reports.
func (rb *Runbook) InlineSecrets() []string {
	var out []string
	add := func(a *Auth) {
		if a == nil {
			return
		}
		for _, v := range []string{a.Key, a.KeyPassphrase, a.Password} {
			if v != "" && !strings.HasPrefix(v, secretPrefix) {
				out = append(out, v)
			}
		}
	}
	for _, en := range rb.EnvOrder {
		env := rb.Envs[en]
		add(env.Auth)
		for _, h := range env.Hosts {
			add(h.Auth)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
