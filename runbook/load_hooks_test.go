package runbook

import (
	"strings"
	"testing"
	"time"
)

func TestLoadHooks(t *testing.T) {
	rb, err := Parse("rb.yaml", []byte(env+`hooks:
  on_start: ./notify.sh "release {{ .Version }} starting"
  on_failure: {run: './notify.sh --token {{ secret "chat/token" | q }} failed', timeout: 10s}
  on_rollback:
    run: |
      ./notify.sh rolled back
steps:
  - {name: a, on: build, run: make}
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, run string
		timeout   time.Duration
		line      int
	}{
		{HookOnStart, `./notify.sh "release {{ .Version }} starting"`, DefaultHookTimeout, 11},
		{HookOnFailure, `./notify.sh --token {{ secret "chat/token" | q }} failed`, 10 * time.Second, 12},
		{HookOnRollback, "./notify.sh rolled back\n", DefaultHookTimeout, 14},
	} {
		h := rb.Hook(tc.name)
		if h == nil || h.Name != tc.name || h.Run != tc.run || h.Timeout != tc.timeout || h.Pos.Line != tc.line {
			t.Errorf("hook %s = %+v, want run %q timeout %s at line %d", tc.name, h, tc.run, tc.timeout, tc.line)
		}
	}
	if rb.Hook(HookOnSuccess) != nil {
		t.Errorf("on_success is not set, and a hook was made for it")
	}
	// The hook's secret is resolved before the night like every other.
	if names := rb.SecretNames(); !strings.Contains(strings.Join(names, " "), "chat/token") {
		t.Errorf("secret names %v miss the hook's", names)
	}
}

func TestLoadHookErrors(t *testing.T) {
	for _, tc := range []struct{ name, hooks, pos, msg string }{
		{"unknown hook", "hooks: {on_sucess: x}\n", "10:9", `unknown key "on_sucess" in hooks; did you mean "on_success"?`},
		{"not a mapping", "hooks: [x]\n", "10:8", "hooks must be a mapping"},
		{"empty command", "hooks: {on_start: \"\"}\n", "10:19", "on_start is empty"},
		{"no run", "hooks: {on_start: {timeout: 5s}}\n", "10:19", "hook on_start has no run"},
		{"unknown hook key", "hooks: {on_start: {run: x, timout: 5s}}\n", "10:28", `unknown key "timout" in hook on_start; did you mean "timeout"?`},
		{"bad timeout", "hooks: {on_start: {run: x, timeout: soon}}\n", "10:37", "on_start timeout must be a duration"},
		{"bad template", "hooks: {on_success: \"echo {{ .Verison }}\"}\n", "10:21", "did you mean .Version?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("rb.yaml", []byte(env+tc.hooks))
			if err == nil || !strings.Contains(err.Error(), "rb.yaml:"+tc.pos+": ") || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("got %v, want rb.yaml:%s: …%s…", err, tc.pos, tc.msg)
			}
		})
	}
}
