package remote

import (
	"reflect"
	"strings"
	"testing"
)

const testSSHConfig = `# global
IdentityFile ~/.ssh/global_key

Host pre1 pre-alias
    HostName 10.1.0.5
    User deploy
    Port 2222

Host prod?
    HostName %h.billing.internal
    ProxyJump=bastion@jump.example.com:22
    User ops

Host *.internal !secret.internal
    User=internal-user
    IdentityFile "~/.ssh/internal key"

Match host pre1
    User ignored-by-match

Host *
    User fallback
    Port 22
`

func TestSSHConfigLookup(t *testing.T) {
	c, err := parseSSHConfig(strings.NewReader(testSSHConfig))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		alias   string
		want    hostSettings
		matched bool
	}{
		{"pre1", hostSettings{HostName: "10.1.0.5", User: "deploy", Port: "2222", IdentityFiles: []string{"~/.ssh/global_key"}}, true},
		{"PRE-ALIAS", hostSettings{HostName: "10.1.0.5", User: "deploy", Port: "2222", IdentityFiles: []string{"~/.ssh/global_key"}}, true},
		{"prod1", hostSettings{HostName: "prod1.billing.internal", User: "ops", Port: "22", ProxyJump: "bastion@jump.example.com:22", IdentityFiles: []string{"~/.ssh/global_key"}}, true},
		{"prod12", hostSettings{User: "fallback", Port: "22", IdentityFiles: []string{"~/.ssh/global_key"}}, true},
		{"db.internal", hostSettings{User: "internal-user", Port: "22", IdentityFiles: []string{"~/.ssh/global_key", "~/.ssh/internal key"}}, true},
		{"secret.internal", hostSettings{User: "fallback", Port: "22", IdentityFiles: []string{"~/.ssh/global_key"}}, true},
	} {
		got, matched := c.lookup(tc.alias)
		if !reflect.DeepEqual(got, tc.want) || matched != tc.matched {
			t.Errorf("%s: got %+v (matched %v), want %+v", tc.alias, got, matched, tc.want)
		}
	}
}

func TestSSHConfigNoHostBlockMatches(t *testing.T) {
	c, err := parseSSHConfig(strings.NewReader("Host a\n  User x\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, matched := c.lookup("b"); matched {
		t.Error("b matched no Host line but was reported as matched")
	}
}

func TestSSHConfigErrors(t *testing.T) {
	// The last one is a line longer than the scanner's buffer.
	for _, in := range []string{"User\n", "Host a\n  Port =\n", "Host a\n  User " + strings.Repeat("x", 70000) + "\n"} {
		if _, err := parseSSHConfig(strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), "line") {
			t.Errorf("%q: got %v, want an error naming the line", in, err)
		}
	}
}

func TestGlobMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, host string
		want          bool
	}{
		{"*", "anything", true},
		{"web?", "web1", true},
		{"web?", "web12", false},
		{"*.example.com", "a.b.example.com", true},
		{"[ab]", "a", false},
		{"[ab]", "[ab]", true},
		{"Exact", "exact", true},
	} {
		if got := globMatch(tc.pattern, tc.host); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v", tc.pattern, tc.host, got)
		}
	}
}

func TestProxyJumpChain(t *testing.T) {
	cfg := HostConfig{Name: "prod1", User: "deploy", KeyFile: "~/.ssh/k", Key: []byte("PEM"), KeyPassphrase: []byte("kp"), Password: "pw", Agent: true}
	via := proxyJump("ops@outer.example.com:2222, inner", cfg)
	if via == nil || via.Address != "inner" || via.User != "deploy" {
		t.Fatalf("nearest hop to the target: %+v", via)
	}
	// L-5: no hop gets the target's credentials.
	for hop := via; hop != nil; hop = hop.Via {
		if hop.KeyFile != "" || hop.Key != nil || hop.KeyPassphrase != nil || hop.Password != "" || hop.Agent {
			t.Errorf("hop %s has the target's credentials: %+v", hop.Name, hop)
		}
	}
	if via.Via == nil || via.Via.Address != "outer.example.com:2222" || via.Via.User != "ops" || via.Via.Via != nil {
		t.Fatalf("first hop: %+v", via.Via)
	}
}

// HostName and Port come from ~/.ssh/config unchecked: what cannot be
// dialled is refused when resolving, naming the host and the file.
func TestResolveRefusesWhatCannotBeDialled(t *testing.T) {
	for _, config := range []string{"Host x\n  HostName [::1\n", "Host x\n  Port seventy\n", "Host x\n  Port 70000\n"} {
		c, err := parseSSHConfig(strings.NewReader(config))
		if err != nil {
			t.Fatal(err)
		}
		p := &Pool{opts: PoolOptions{SSHConfig: "/home/u/.ssh/config"}, sshConfig: func() (*sshConfig, error) { return c, nil }}
		_, err = p.resolve(HostConfig{Name: "pre1", Address: "x", User: "deploy"})
		if err == nil || !strings.Contains(err.Error(), "host pre1 resolves to") || !strings.Contains(err.Error(), "/home/u/.ssh/config") {
			t.Errorf("%q: %v, want an error naming the host and the config file", config, err)
		}
	}
	c, _ := parseSSHConfig(strings.NewReader("Host x\n  HostName 10.1.0.5\n  Port 2222\n"))
	p := &Pool{sshConfig: func() (*sshConfig, error) { return c, nil }}
	if tg, err := p.resolve(HostConfig{Name: "pre1", Address: "x", User: "deploy"}); err != nil || tg.addr != "10.1.0.5:2222" {
		t.Errorf("a good alias: %+v %v", tg, err)
	}
}
