package remote

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// agentForward answers the agent channels that the host of one connection
// opens for its sessions that asked for agent forwarding (a relay's copy
// jobs, relay.go). It is no copy of the operator's agent: it holds the
// signers of the copies under way, each lent for the time of its copy
// with a budget of signatures, and refuses every channel while none is.
// The private keys stay in this process: the relay host only ever gets
// signatures, through a socket that sshd removes with the session.
type agentForward struct {
	mu    sync.Mutex
	lends []*agentLend
}

// agentLend is the keys lent to one copy job.
type agentLend struct {
	signers []ssh.Signer
	budget  int // signatures it may still make
}

// signaturesPerCopy is the budget of one copy: its ssh logs in once (one
// signature); one more covers a host that asks for two public-key steps.
const signaturesPerCopy = 2

// agentForwardOf returns the agent of cl's connection, registering its
// channel handler on first use (x/crypto takes one per connection).
func agentForwardOf(cl *client) *agentForward {
	cl.agentOnce.Do(func() {
		f := &agentForward{}
		if chans := cl.ssh.HandleChannelOpen("auth-agent@openssh.com"); chans != nil {
			go f.serve(chans)
		}
		cl.agent = f
	})
	return cl.agent
}

func (f *agentForward) serve(chans <-chan ssh.NewChannel) {
	for nch := range chans {
		f.mu.Lock()
		lent := len(f.lends) > 0
		f.mu.Unlock()
		if !lent {
			_ = nch.Reject(ssh.Prohibited, "no relayed copy is under way")
			continue
		}
		ch, reqs, err := nch.Accept()
		if err != nil {
			continue
		}
		go ssh.DiscardRequests(reqs)
		go func() {
			_ = agent.ServeAgent(f, ch)
			ch.Close()
		}()
	}
}

// lend makes signers available until the returned function is called.
func (f *agentForward) lend(signers []ssh.Signer) (end func()) {
	l := &agentLend{signers: signers, budget: signaturesPerCopy}
	f.mu.Lock()
	f.lends = append(f.lends, l)
	f.mu.Unlock()
	return sync.OnceFunc(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		for i, x := range f.lends {
			if x == l {
				f.lends = append(f.lends[:i], f.lends[i+1:]...)
				break
			}
		}
	})
}

var errAgentRefused = errors.New("runbook's forwarded agent lends its keys only to runbook's own relay copies")

// List implements agent.Agent: the keys lent now.
func (f *agentForward) List() ([]*agent.Key, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var keys []*agent.Key
	seen := map[string]bool{}
	for _, l := range f.lends {
		for _, s := range l.signers {
			b := s.PublicKey().Marshal()
			if !seen[string(b)] {
				seen[string(b)] = true
				keys = append(keys, &agent.Key{Format: s.PublicKey().Type(), Blob: b, Comment: "runbook relay"})
			}
		}
	}
	return keys, nil
}

// Sign implements agent.Agent.
func (f *agentForward) Sign(key ssh.PublicKey, data []byte) (*ssh.Signature, error) {
	return f.SignWithFlags(key, data, 0)
}

// SignWithFlags implements agent.ExtendedAgent: it signs with a key lent
// now, from the budget of the copy it was lent to.
func (f *agentForward) SignWithFlags(key ssh.PublicKey, data []byte, flags agent.SignatureFlags) (*ssh.Signature, error) {
	signer := f.take(key.Marshal())
	if signer == nil {
		return nil, fmt.Errorf("sign: %w", errAgentRefused)
	}
	if flags == 0 {
		return signer.Sign(rand.Reader, data)
	}
	as, ok := signer.(ssh.AlgorithmSigner)
	if !ok {
		return nil, fmt.Errorf("agent: %T cannot sign with another algorithm", signer)
	}
	switch flags {
	case agent.SignatureFlagRsaSha256:
		return as.SignWithAlgorithm(rand.Reader, data, ssh.KeyAlgoRSASHA256)
	case agent.SignatureFlagRsaSha512:
		return as.SignWithAlgorithm(rand.Reader, data, ssh.KeyAlgoRSASHA512)
	}
	return nil, fmt.Errorf("agent: unsupported signature flags %d", flags)
}

// take finds a lent signer for the public key blob and spends one
// signature of its copy's budget; nil when there is none left.
func (f *agentForward) take(blob []byte) ssh.Signer {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, l := range f.lends {
		if l.budget <= 0 {
			continue
		}
		for _, s := range l.signers {
			if bytes.Equal(s.PublicKey().Marshal(), blob) {
				l.budget--
				return s
			}
		}
	}
	return nil
}

// Add implements agent.Agent: refused, nothing is added to it.
func (f *agentForward) Add(agent.AddedKey) error { return errAgentRefused }

// Remove implements agent.Agent: refused.
func (f *agentForward) Remove(ssh.PublicKey) error { return errAgentRefused }

// RemoveAll implements agent.Agent: refused.
func (f *agentForward) RemoveAll() error { return errAgentRefused }

// Lock implements agent.Agent: refused.
func (f *agentForward) Lock([]byte) error { return errAgentRefused }

// Unlock implements agent.Agent: refused.
func (f *agentForward) Unlock([]byte) error { return errAgentRefused }

// Signers implements agent.Agent: none are handed out.
func (f *agentForward) Signers() ([]ssh.Signer, error) { return nil, errAgentRefused }

// Extension implements agent.ExtendedAgent: none.
func (f *agentForward) Extension(string, []byte) ([]byte, error) {
	return nil, agent.ErrExtensionUnsupported
}

var _ agent.ExtendedAgent = (*agentForward)(nil)
