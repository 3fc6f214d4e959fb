package runbook

import (
	"net/url"

	"go.yaml.in/yaml/v3"
)

// decodeState reads state: and state_password: (docs/SPEC.md "Teams"): a
// PostgreSQL URL for the record a team shares, and where its password
// is, which is never the file.
func (l *loader) decodeState(stateN, pwN *yaml.Node) {
	if stateN != nil {
		s := l.nonEmpty(stateN, "state")
		u, err := url.Parse(s)
		switch {
		case s == "":
		case err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "":
			// The value is not quoted back: a URL that does not parse may
			// still hold a password.
			l.errorf(stateN, "state: is not a PostgreSQL URL: write postgres://USER@HOST:PORT/DATABASE, or leave state: out for the embedded SQLite database beside the runbook file")
		case hasPassword(u):
			l.errorf(stateN, "state: the URL holds a password, and whoever can read the file, or its history, has it: "+
				"remove it and write state_password: secret:NAME (from the vault), or leave it to PGPASSWORD or ~/.pgpass")
		default:
			l.rb.State = s
		}
	}
	if pwN == nil {
		return
	}
	s := l.nonEmpty(pwN, "state_password")
	name, ok := ParseSecretRef(s)
	switch {
	case stateN == nil:
		l.errorf(pwN, "state_password: is the password of the state: URL, and there is none: add state: postgres://USER@HOST:PORT/DATABASE or remove it")
	case !ok:
		l.errorf(pwN, "state_password: write secret:NAME: the password lives in the vault (`runbook vault set NAME`), never in the file")
	default:
		l.noteSecretRef(name, pos(pwN)) // for validate's vault check
		l.rb.StatePassword = s
	}
}

func hasPassword(u *url.URL) bool {
	if u.User != nil {
		if _, set := u.User.Password(); set {
			return true
		}
	}
	return u.Query().Has("password")
}
