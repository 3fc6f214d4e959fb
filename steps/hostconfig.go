package steps

import (
	"fmt"
	"strings"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/steps/remote"
)

// HostConfig turns a runbook host into what the transport needs, resolving
// secret:NAME references in its auth through secret.
func HostConfig(rb *runbook.Runbook, h *runbook.Host, localMarkers string, secret func(string) (string, error)) (remote.HostConfig, error) {
	cfg := remote.HostConfig{Name: h.Name, Local: h.Local, Address: h.Address, User: h.User}
	if h.Local {
		cfg.MarkerDir = localMarkers
		return cfg, nil
	}
	if a := h.Auth; a != nil {
		resolve := func(field, v string) (string, error) {
			name, ok := runbook.ParseSecretRef(v)
			if !ok {
				return v, nil
			}
			if secret == nil {
				return "", fmt.Errorf("host %s: auth %s needs secret %s, but no vault is open: pass --vault or create it with `runbook vault init`", h.Name, field, name)
			}
			val, err := secret(name)
			if err != nil {
				return "", fmt.Errorf("host %s: auth %s: %w", h.Name, field, err)
			}
			return val, nil
		}
		key, err := resolve("key", a.Key)
		if err != nil {
			return cfg, err
		}
		if key != "" {
			cfg.Key = []byte(key)
		}
		pass, err := resolve("key_passphrase", a.KeyPassphrase)
		if err != nil {
			return cfg, err
		}
		if pass != "" {
			cfg.KeyPassphrase = []byte(pass)
		}
		if cfg.Password, err = resolve("password", a.Password); err != nil {
			return cfg, err
		}
		cfg.KeyFile, cfg.Agent = a.KeyFile, a.Agent
	}
	if via := h.Env.Via; via != "" {
		if jh := rb.HostByName(via); jh != nil {
			jc, err := HostConfig(rb, jh, localMarkers, secret)
			if err != nil {
				return cfg, fmt.Errorf("jump host of %s: %w", h.Name, err)
			}
			cfg.Via = &jc
		} else {
			cfg.Via = parseJump(via)
		}
	}
	return cfg, nil
}

// parseJump reads a jump host written as [user@]host[:port].
func parseJump(s string) *remote.HostConfig {
	jc := &remote.HostConfig{Name: s, Address: s}
	if at := strings.LastIndex(s, "@"); at >= 0 {
		jc.User, jc.Address = s[:at], s[at+1:]
	}
	jc.Agent = true
	return jc
}
