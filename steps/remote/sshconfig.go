package remote

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// sshConfig is the part of an OpenSSH client config file runbook honours:
// Host blocks with HostName, Port, User, IdentityFile and ProxyJump. Match
// blocks and Include are skipped; as in OpenSSH the first value found for
// a key wins (IdentityFile accumulates).
type sshConfig struct {
	blocks []hostBlock
}

type hostBlock struct {
	patterns []string
	settings [][2]string // lowercased key, value; in file order
}

// hostSettings are the values that apply to one host alias.
type hostSettings struct {
	HostName      string
	Port          string
	User          string
	IdentityFiles []string
	ProxyJump     string
}

// loadSSHConfig reads an ssh config file; a missing file is an empty config.
func loadSSHConfig(file string) (*sshConfig, error) {
	f, err := os.Open(file)
	if os.IsNotExist(err) {
		return &sshConfig{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c, err := parseSSHConfig(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return c, nil
}

func parseSSHConfig(r io.Reader) (*sshConfig, error) {
	c := &sshConfig{}
	// Lines before the first Host apply to every host, like "Host *".
	cur := &hostBlock{patterns: []string{"*"}}
	skipping := false
	sc := bufio.NewScanner(r)
	n := 1
	for ; sc.Scan(); n++ {
		key, value, err := splitConfigLine(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		switch key {
		case "":
			continue
		case "host":
			c.blocks = append(c.blocks, *cur)
			cur = &hostBlock{patterns: strings.Fields(value)}
			skipping = false
		case "match":
			c.blocks = append(c.blocks, *cur)
			cur = &hostBlock{}
			skipping = true
		default:
			if !skipping {
				cur.settings = append(cur.settings, [2]string{key, value})
			}
		}
	}
	c.blocks = append(c.blocks, *cur)
	if err := sc.Err(); err != nil {
		// A line longer than the scanner's 64 KiB: say which.
		return nil, fmt.Errorf("line %d: %w", n, err)
	}
	return c, nil
}

// splitConfigLine returns the lowercased keyword and the value of a line in
// either "Key Value" or "Key=Value" form; "" for blank lines and comments.
func splitConfigLine(line string) (string, string, error) {
	line = strings.TrimSpace(line)
	if line == "" || strings.HasPrefix(line, "#") {
		return "", "", nil
	}
	i := strings.IndexAny(line, " \t=")
	if i < 0 {
		return "", "", fmt.Errorf("keyword %q has no value", line)
	}
	key := strings.ToLower(line[:i])
	rest := strings.TrimLeft(line[i:], " \t")
	rest = strings.TrimPrefix(rest, "=")
	value := strings.TrimSpace(rest)
	if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
		value = value[1 : len(value)-1]
	}
	if value == "" {
		return "", "", fmt.Errorf("keyword %q has no value", key)
	}
	return key, value, nil
}

// lookup returns the settings for alias, and whether any Host pattern
// other than the implicit global block matched.
func (c *sshConfig) lookup(alias string) (hostSettings, bool) {
	var s hostSettings
	matched := false
	for i, b := range c.blocks {
		if !matchPatterns(b.patterns, alias) {
			continue
		}
		if i > 0 {
			matched = true
		}
		for _, kv := range b.settings {
			v := kv[1]
			switch kv[0] {
			case "hostname":
				if s.HostName == "" {
					s.HostName = strings.ReplaceAll(v, "%h", alias)
				}
			case "port":
				if s.Port == "" {
					s.Port = v
				}
			case "user":
				if s.User == "" {
					s.User = v
				}
			case "identityfile":
				s.IdentityFiles = append(s.IdentityFiles, v)
			case "proxyjump":
				if s.ProxyJump == "" {
					s.ProxyJump = v
				}
			}
		}
	}
	return s, matched
}

// matchPatterns applies a Host line: some pattern matches and no negated
// one does.
func matchPatterns(patterns []string, host string) bool {
	ok := false
	for _, p := range patterns {
		if neg, found := strings.CutPrefix(p, "!"); found {
			if globMatch(neg, host) {
				return false
			}
			continue
		}
		if globMatch(p, host) {
			ok = true
		}
	}
	return ok
}

// globMatch matches ssh_config patterns: * and ? and nothing else, case
// insensitively like OpenSSH's host matching. path.Match would also give
// meaning to [ and \.
func globMatch(pattern, s string) bool {
	pattern, s = strings.ToLower(pattern), strings.ToLower(s)
	if !strings.ContainsAny(pattern, "*?") {
		return pattern == s
	}
	// Turn the other special characters of path.Match into literals.
	var b strings.Builder
	for _, r := range pattern {
		switch r {
		case '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	ok, err := path.Match(b.String(), s)
	return err == nil && ok
}
