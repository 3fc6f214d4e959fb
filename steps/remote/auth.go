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
		pw := cfg.Password
		c.methods = append(c.methods,
			ssh.Password(pw),
			ssh.KeyboardInteractive(func(_, _ string, questions []string, _ []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range answers {
					answers[i] = pw
				}
				return answers, nil
			}))
		c.names = append(c.names, "password", "keyboard-interactive")
	}
	if len(c.methods) == 0 {
		c.close()
		return nil, fmt.Errorf("no credentials for %s: set auth (key, key_file, password or agent) for the host", cfg.Name)
	}
	return c, nil
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

// isAuthFailure recognises x/crypto's "unable to authenticate" handshake
// error, which has no type of its own.
func isAuthFailure(err error) bool {
	return err != nil && strings.Contains(err.Error(), "unable to authenticate")
}
