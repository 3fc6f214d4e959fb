package remote

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// credentials are the auth methods for one host, the names of the methods
// for an AuthError, and what to release after the handshake.
type credentials struct {
	methods []ssh.AuthMethod
	names   []string
	closers []io.Closer
}

func (c *credentials) close() {
	for _, cl := range c.closers {
		_ = cl.Close()
	}
}

// defaultIdentities are the key files OpenSSH tries when none is set.
var defaultIdentities = []string{"~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa"}

// authFor builds the auth methods from cfg: the key from the vault, a key
// file, the agent and a password (also answering keyboard-interactive).
// identityFiles (from ~/.ssh/config) are used when cfg names no method;
// with neither, the agent and OpenSSH's default key files are tried.
func authFor(cfg HostConfig, identityFiles []string) (*credentials, error) {
	c := &credentials{}
	explicit := len(cfg.Key) > 0 || cfg.KeyFile != "" || cfg.Password != "" || cfg.Agent
	signers, err := ownSigners(cfg, identityFiles)
	if err != nil {
		return nil, err
	}
	agentSigners, closer, err := agentKeys(cfg.Agent || !explicit)
	if err != nil && cfg.Agent {
		return nil, fmt.Errorf("ssh agent for %s: %w", cfg.Name, err)
	}
	if closer != nil {
		c.closers = append(c.closers, closer)
	}
	if len(signers) > 0 || agentSigners != nil {
		own := signers
		c.methods = append(c.methods, ssh.PublicKeysCallback(func() ([]ssh.Signer, error) {
			all := own
			if agentSigners != nil {
				more, err := agentSigners()
				if err == nil {
					all = append(all[:len(all):len(all)], more...)
				}
			}
			return all, nil
		}))
		c.names = append(c.names, "publickey")
	}
	if cfg.Password != "" {
		c.methods = append(c.methods, ssh.Password(cfg.Password), ssh.KeyboardInteractive(passwordPrompt(cfg.Password)))
		c.names = append(c.names, "password", "keyboard-interactive")
	}
	if len(c.methods) == 0 {
		c.close()
		return nil, fmt.Errorf("no credentials for %s: set auth (key, key_file, password or agent) for the host", cfg.Name)
	}
	return c, nil
}

// ownSigners are the keys of cfg that runbook holds itself, never the
// agent's: the key from the vault, the key file, and when cfg names no
// method, identityFiles (from ~/.ssh/config) or else OpenSSH's default
// key files that exist.
func ownSigners(cfg HostConfig, identityFiles []string) ([]ssh.Signer, error) {
	var signers []ssh.Signer
	explicit := len(cfg.Key) > 0 || cfg.KeyFile != "" || cfg.Password != "" || cfg.Agent
	if len(cfg.Key) > 0 {
		s, err := parseKey(cfg.Key, cfg.KeyPassphrase, "the key for "+cfg.Name)
		if err != nil {
			return nil, err
		}
		signers = append(signers, s)
	}
	if cfg.KeyFile != "" {
		s, err := readKeyFile(cfg.KeyFile, cfg.KeyPassphrase)
		if err != nil {
			return nil, fmt.Errorf("key file for %s: %w", cfg.Name, err)
		}
		signers = append(signers, s)
	}
	if !explicit {
		files, optional := identityFiles, false
		if len(files) == 0 {
			files, optional = defaultIdentities, true
		}
		for _, f := range files {
			s, err := readKeyFile(f, cfg.KeyPassphrase)
			if optional && errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("identity file for %s from ssh config: %w", cfg.Name, err)
			}
			signers = append(signers, s)
		}
	}
	return signers, nil
}

// lendable are the keys of cfg that a relay may be lent to log in to
// the host for runbook (relay.go): the keys runbook holds itself
// (ownSigners) and, when the host logs in with the agent, the agent's,
// whose connection closer must be closed once the copy is done. Never a
// password.
func lendable(cfg HostConfig, identityFiles []string) ([]ssh.Signer, io.Closer, error) {
	signers, err := ownSigners(cfg, identityFiles)
	if err != nil {
		return nil, nil, err
	}
	explicit := len(cfg.Key) > 0 || cfg.KeyFile != "" || cfg.Password != "" || cfg.Agent
	more, closer, err := agentKeys(cfg.Agent || !explicit)
	if err != nil {
		if cfg.Agent {
			return nil, nil, fmt.Errorf("ssh agent for %s: %w", cfg.Name, err)
		}
		return signers, nil, nil
	}
	if more != nil {
		s, err := more()
		if err != nil && cfg.Agent {
			closer.Close()
			return nil, nil, fmt.Errorf("ssh agent for %s: %w", cfg.Name, err)
		}
		signers = append(signers, s...)
	}
	return signers, closer, nil
}

// errNotPasswordPrompt: a host asked a keyboard-interactive question that
// runbook does not answer.
var errNotPasswordPrompt = errors.New("which is not a password prompt: runbook answers a host's password prompt and nothing else")

// passwordPrompt answers keyboard-interactive with the password only where
// the host asks for exactly that, once: a single question, not echoed,
// that asks for a password and not a one-time or a new one. Anything else
// (a verification code, a second factor, "New password:") is refused and never gets it; the
// handshake then fails with an AuthError that says what was asked.
func passwordPrompt(pw string) ssh.KeyboardInteractiveChallenge {
	answered := false
	return func(_, _ string, questions []string, echos []bool) ([]string, error) {
		switch {
		case len(questions) == 0:
			return nil, nil // instructions alone: nothing to answer
		case !answered && len(questions) == 1 && !echos[0] && isPasswordPrompt(questions[0]):
			answered = true
			return []string{pw}, nil
		}
		return nil, fmt.Errorf("the host asked %q, %w", questions, errNotPasswordPrompt)
	}
}

// notPassword are words of questions that mention a password but do not
// ask for the one runbook has: a one-time password, a new one.
var notPassword = []string{"new", "again", "retype", "one-time", "otp", "oath", "token", "code"}

func isPasswordPrompt(q string) bool {
	q = strings.ToLower(q)
	if !strings.Contains(q, "password") {
		return false
	}
	for _, w := range notPassword {
		if strings.Contains(q, w) {
			return false
		}
	}
	return true
}

// agentKeys connects to $SSH_AUTH_SOCK; without an agent it returns nil
// signers and an error only worth reporting when the agent was asked for.
func agentKeys(wanted bool) (func() ([]ssh.Signer, error), io.Closer, error) {
	if !wanted {
		return nil, nil, nil
	}
	sock := os.Getenv("SSH_AUTH_SOCK")
	if sock == "" {
		return nil, nil, errors.New("SSH_AUTH_SOCK is not set: start ssh-agent and add the key (ssh-add)")
	}
	conn, err := net.Dial("unix", sock)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to the agent at %s: %w", sock, err)
	}
	return agent.NewClient(conn).Signers, conn, nil
}

func readKeyFile(file string, passphrase []byte) (ssh.Signer, error) {
	p, err := expandHome(file)
	if err != nil {
		return nil, err
	}
	pem, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	return parseKey(pem, passphrase, p)
}

func parseKey(pem, passphrase []byte, what string) (ssh.Signer, error) {
	if len(passphrase) > 0 {
		s, err := ssh.ParsePrivateKeyWithPassphrase(pem, passphrase)
		if err != nil {
			return nil, fmt.Errorf("decrypt %s: %w (check key_passphrase)", what, err)
		}
		return s, nil
	}
	s, err := ssh.ParsePrivateKey(pem)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		return nil, fmt.Errorf("%s is encrypted: set key_passphrase for it, or use the agent", what)
	}
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", what, err)
	}
	return s, nil
}

// expandHome expands a leading ~/ to the user's home directory.
func expandHome(p string) (string, error) {
	rest, ok := strings.CutPrefix(p, "~/")
	if !ok && p != "~" {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("expand %s: %w", p, err)
	}
	return filepath.Join(home, rest), nil
}

// isAuthFailure recognises the handshake errors of a host that refused
// every credential, which x/crypto gives no type of their own: "unable to
// authenticate", and "unexpected message type 51" (USERAUTH_FAILURE) from
// a keyboard-interactive method the host offers but answers with a
// refusal before any question, as sshd without PAM does after a wrong
// password. A prompt runbook refused to answer is one too.
func isAuthFailure(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "unable to authenticate") || strings.Contains(msg, "unexpected message type 51") ||
		errors.Is(err, errNotPasswordPrompt)
}
