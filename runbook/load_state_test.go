package runbook

import (
	"strings"
	"testing"
)

const stateBase = `name: t
environments:
  build: {local: true}
steps:
  - {name: s, on: build, run: "true"}
`

func TestLoadState(t *testing.T) {
	for _, tc := range []struct {
		name, top, wantState, wantPw, wantErr string
	}{
		{name: "none"},
		{name: "url", top: "state: postgres://runbook@db.example.com:5432/releases\n", wantState: "postgres://runbook@db.example.com:5432/releases"},
		{name: "postgresql scheme", top: "state: postgresql://db/releases\n", wantState: "postgresql://db/releases"},
		{name: "password from the vault", top: "state: postgres://runbook@db/releases\nstate_password: secret:db/runbook\n",
			wantState: "postgres://runbook@db/releases", wantPw: "secret:db/runbook"},
		{name: "password in the URL", top: "state: postgres://runbook:hunter2@db/releases\n", wantErr: "the URL holds a password"},
		{name: "password parameter", top: "state: postgres://runbook@db/releases?password=hunter2\n", wantErr: "the URL holds a password"},
		{name: "a path", top: "state: .runbook/state.db\n", wantErr: "is not a PostgreSQL URL"},
		{name: "plain password", top: "state: postgres://db/r\nstate_password: hunter2\n", wantErr: "write secret:NAME"},
		{name: "password without state", top: "state_password: secret:x\n", wantErr: "there is none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rb, err := Parse("runbook.yaml", []byte(tc.top+stateBase))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "hunter2") {
					t.Fatalf("Parse = %v; want an error with %q that does not show the password", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rb.State != tc.wantState || rb.StatePassword != tc.wantPw {
				t.Errorf("State %q, StatePassword %q; want %q, %q", rb.State, rb.StatePassword, tc.wantState, tc.wantPw)
			}
		})
	}
}
