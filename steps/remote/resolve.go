package remote

import (
	"fmt"
	"net"
	"os/user"
	"strconv"
	"strings"
)

// target is where and as whom to connect, after ~/.ssh/config.
type target struct {
	addr          string // host:port
	user          string
	identityFiles []string
	via           *HostConfig
}

// resolve applies ~/.ssh/config to cfg: when the host part of cfg.Address
// matches a Host pattern, HostName and Port replace it (a port in
// cfg.Address wins), User applies when cfg.User is empty, IdentityFile when
// cfg names no credentials, ProxyJump when cfg has no Via.
func (p *Pool) resolve(cfg HostConfig) (target, error) {
	if cfg.Address == "" {
		return target{}, fmt.Errorf("host %s has no address: set address in the runbook", cfg.Name)
	}
	host, port := splitAddress(cfg.Address)
	conf, err := p.sshConfig()
	if err != nil {
		return target{}, fmt.Errorf("ssh config: %w", err)
	}
	t := target{user: cfg.User, via: cfg.Via}
	s, matched := conf.lookup(host)
	if matched {
		if s.HostName != "" {
			host = s.HostName
		}
		if port == "" {
			port = s.Port
		}
		if t.user == "" {
			t.user = s.User
		}
		if len(cfg.Key) == 0 && cfg.KeyFile == "" && cfg.Password == "" && !cfg.Agent {
			t.identityFiles = s.IdentityFiles
		}
		if t.via == nil && s.ProxyJump != "" && !strings.EqualFold(s.ProxyJump, "none") {
			t.via = proxyJump(s.ProxyJump, cfg)
		}
	}
	if port == "" {
		port = "22"
	}
	if t.user == "" {
		u, err := user.Current()
		if err != nil {
			return target{}, fmt.Errorf("no user for %s and no current user: set user in the runbook", cfg.Name)
		}
		t.user = u.Username
	}
	t.addr = net.JoinHostPort(host, port)
	// HostName and Port come from the ssh config unchecked: say so here
	// rather than fail the dial with a parser's complaint.
	if h, _, err := net.SplitHostPort(t.addr); err != nil || h == "" || h != host || !validPort(port) {
		return target{}, fmt.Errorf("host %s resolves to %q, which is not HOST:PORT: check its address and the HostName and Port for it in %s",
			cfg.Name, t.addr, p.opts.SSHConfig)
	}
	return t, nil
}

func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 1 && n <= 65535 && s == strconv.Itoa(n)
}

// splitAddress splits host[:port] (IPv6 in brackets); port is "" when absent.
func splitAddress(a string) (host, port string) {
	if h, p, err := net.SplitHostPort(a); err == nil {
		return h, p
	}
	return strings.TrimSuffix(strings.TrimPrefix(a, "["), "]"), ""
}

// proxyJump turns a ProxyJump value ([user@]host[:port], comma-separated,
// first hop first) into a chain of jump hosts. A hop gets none of the
// target's credentials: a bastion is another machine, and the target's
// password or key (from the vault) is not for it. Each hop authenticates
// as OpenSSH would: its own IdentityFile from the ssh config, else the
// agent and the default key files. The user, when the hop names none, is
// the target's, as before.
func proxyJump(value string, cfg HostConfig) *HostConfig {
	var via *HostConfig
	for _, hop := range strings.Split(value, ",") {
		hop = strings.TrimSpace(hop)
		u, addr := "", hop
		if i := strings.LastIndex(hop, "@"); i >= 0 {
			u, addr = hop[:i], hop[i+1:]
		}
		if u == "" {
			u = cfg.User
		}
		via = &HostConfig{Name: "jump " + hop, Address: addr, User: u, Via: via}
	}
	return via
}
