package runbook

import (
	"slices"
	"time"

	"go.yaml.in/yaml/v3"
)

// The hooks of a runbook (SPEC §3.7): local commands runbook runs when a
// release starts, succeeds, fails or is rolled back.
const (
	HookOnStart    = "on_start"
	HookOnSuccess  = "on_success"
	HookOnFailure  = "on_failure"
	HookOnRollback = "on_rollback"
)

// HookNames lists the hooks in the order the SPEC gives them.
var HookNames = []string{HookOnStart, HookOnSuccess, HookOnFailure, HookOnRollback}

// DefaultHookTimeout bounds a hook that gives no timeout: a hook posts to
// a chat or sends a mail, and one that hangs must not hold the night.
const DefaultHookTimeout = 60 * time.Second

// Hook is one command of the hooks key.
type Hook struct {
	Name    string // one of HookNames
	Run     string // a command template, run on the operator's machine
	Timeout time.Duration
	Pos     Pos
}

// Hook returns the hook of that name, or nil.
func (rb *Runbook) Hook(name string) *Hook { return rb.Hooks[name] }

// decodeHooks reads `hooks: {on_start: CMD, on_failure: {run: CMD,
// timeout: 30s}, …}`.
func (l *loader) decodeHooks(n *yaml.Node) {
	fs := l.mapping(n, "hooks")
	l.only(fs, "hooks", HookNames...)
	for _, f := range fs.list {
		name := f.key.Value
		if !slices.Contains(HookNames, name) {
			continue
		}
		h := &Hook{Name: name, Timeout: DefaultHookTimeout, Pos: pos(f.val)}
		switch v := l.deref(f.val); {
		case v != nil && v.Kind == yaml.MappingNode:
			hs := l.mapping(v, "hook "+name)
			l.only(hs, "hook "+name, "run", "timeout")
			if hs.get("run") == nil {
				l.errorf(v, "hook %s has no run: give it the command, like %s: {run: ./notify.sh, timeout: 30s}", name, name)
			}
			h.Run = l.shellCommand(hs.get("run"), name+" run")
			if d, ok := l.duration(hs.get("timeout"), name+" timeout"); ok {
				h.Timeout = d
			}
		default:
			h.Run = l.shellCommand(f.val, name)
		}
		if l.rb.Hooks == nil {
			l.rb.Hooks = map[string]*Hook{}
		}
		l.rb.Hooks[name] = h
	}
}
