package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/secrets"
	"github.com/runbook-dev/runbook/steps"
	"github.com/runbook-dev/runbook/steps/remote"
	"github.com/spf13/cobra"
)

// reach is what the commands that work on hosts outside a release hold
// (op, exec, diff, panel and its checks). It takes no release lock: these
// commands must work while a release runs, to look at or fix what it is
// doing.
type reach struct {
	rb        *runbook.Runbook
	pool      *remote.Pool
	markerDir string
	exec      *steps.Executor
	secrets   *secrets.Resolver
	ui        *printer
}

// reach connects to nothing yet: hosts are dialled on first use. Every
// secret the runbook refers to is resolved first, as start does, because
// a host may print any of them (a config file, an environment dump) and
// the masker can hide only what it holds before the output arrives: a
// value added later does not reach back into what was printed and
// recorded.
func (g *globals) reach(rb *runbook.Runbook) (*reach, error) {
	res := secrets.NewResolver(func() (*secrets.Vault, error) { return g.openVault(rb) }, g.masker)
	if err := preloadSecrets(rb, res); err != nil {
		return nil, err
	}
	pool := remote.NewPool(remote.PoolOptions{
		KnownHosts:        rb.KnownHosts,
		AcceptNewHostKeys: g.acceptNew,
		AskHostKey:        g.askHostKey(),
	})
	markers := filepath.Join(g.workDir(rb), "runs")
	return &reach{
		rb:        rb,
		pool:      pool,
		markerDir: markers,
		exec:      &steps.Executor{RB: rb, Dialer: pool, MarkerDir: markers, Secret: res.Secret, Closer: pool},
		secrets:   res,
		ui:        newPrinter(&g.gate, g.stdout, g.stderr, g.masker),
	}, nil
}

// conn returns the pooled connection to a host.
func (r *reach) conn(ctx context.Context, h *runbook.Host) (remote.Conn, error) {
	cfg, err := steps.HostConfig(r.rb, h, r.markerDir, r.secrets.Secret)
	if err != nil {
		return nil, err
	}
	return r.pool.Conn(ctx, cfg)
}

// Close ends every connection.
func (r *reach) Close() { _ = r.exec.Close() }

// environment finds an environment named on the command line.
func environment(rb *runbook.Runbook, name string) (*runbook.Environment, error) {
	if env := rb.Envs[name]; env != nil {
		return env, nil
	}
	return nil, usagef("there is no environment %q in %s: it is one of %s", name, filepath.Base(rb.File), strings.Join(rb.EnvOrder, ", "))
}

// selectHosts returns the hosts of an environment, or only the one named
// by --host.
func selectHosts(rb *runbook.Runbook, envName, host string) (*runbook.Environment, []*runbook.Host, error) {
	env, err := environment(rb, envName)
	if err != nil {
		return nil, nil, err
	}
	if host == "" {
		return env, env.Hosts, nil
	}
	names := make([]string, len(env.Hosts))
	for i, h := range env.Hosts {
		if h.Name == host {
			return env, []*runbook.Host{h}, nil
		}
		names[i] = h.Name
	}
	return nil, nil, usagef("environment %s has no host %q: its hosts are %s", envName, host, strings.Join(names, ", "))
}

// hostData is the template data of a command run outside a release: the
// host and its environment, no release.
func hostData(h *runbook.Host) runbook.TemplateData {
	return runbook.TemplateData{
		Host: runbook.TemplateHost{Name: h.Name, Address: h.Address, DeployDir: h.DeployDir},
		Env:  runbook.TemplateEnv{Name: h.Env.Name, DeployDir: h.Env.DeployDir},
	}
}

// render renders a command template for one host.
func (r *reach) render(what, text string, h *runbook.Host) (string, error) {
	out, err := runbook.Render(text, hostData(h), r.secrets.Secret)
	if err != nil {
		return "", fmt.Errorf("%s on %s: %w", what, h.Name, err)
	}
	return out, nil
}

// completionRunbook loads the runbook for shell completion, which must
// never fail loudly: nil when there is none.
func (g *globals) completionRunbook() *runbook.Runbook {
	if g.file == "" { // completion runs no PersistentPreRunE
		g.resolveFile()
	}
	rb, err := runbook.Load(g.file)
	if err != nil {
		return nil
	}
	return rb
}

// completeEnvs completes up to n environment names.
func (g *globals) completeEnvs(n int) cobra.CompletionFunc {
	return func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if rb := g.completionRunbook(); rb != nil && len(args) < n {
			return rb.EnvOrder, cobra.ShellCompDirectiveNoFileComp
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
}
