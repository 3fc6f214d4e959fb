package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/spf13/cobra"
)

type infoOptions struct {
	env    string
	reveal bool
	format string
}

func newInfo(g *globals) *cobra.Command {
	o := &infoOptions{}
	cmd := &cobra.Command{
		Use:   "info [ENV]",
		Short: "The release handbook: environments, hosts, live versions, contacts, checks, queries, notes",
		Long: `Print the handbook of the night: every environment (or only ENV) with its
hosts, addresses, users and deploy directories and the version live on it,
the domains, contacts, checks, SQL queries (rendered for the latest release)
and notes of the runbook, and the names of the vault's secrets. Values are
shown only with --reveal, after the vault's passphrase.`,
		Example: `  runbook info
  runbook info production --format md > handbook.md`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: g.completeEnvs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.env = args[0]
			}
			return g.runInfo(cmd.Context(), *o)
		},
	}
	cmd.Flags().BoolVar(&o.reveal, "reveal", false, "show the values of the vault's secrets (asks for the passphrase)")
	cmd.Flags().StringVar(&o.format, "format", "text", "text or md")
	return cmd
}

// handbook is everything info shows, gathered before anything is printed
// so a failure never leaves half a handbook on the screen.
type handbook struct {
	rb      *runbook.Runbook
	envs    []*runbook.Environment
	live    map[string]map[string]runbook.Live // env → host → live
	latest  *runbook.Release                   // nil before the first release
	vault   vaultInfo
	onlyEnv string
}

func (g *globals) runInfo(ctx context.Context, o infoOptions) error {
	rb, err := g.load()
	if err != nil {
		return err
	}
	doc, err := newHandbookDoc(o.format, g.stdout)
	if err != nil {
		return err
	}
	hb := &handbook{rb: rb, onlyEnv: o.env, live: map[string]map[string]runbook.Live{}}
	if o.env != "" {
		env, err := environment(rb, o.env)
		if err != nil {
			return err
		}
		hb.envs = []*runbook.Environment{env}
	} else {
		for _, name := range rb.EnvOrder {
			hb.envs = append(hb.envs, rb.Envs[name])
		}
	}
	if err := g.readLive(ctx, hb); err != nil {
		return err
	}
	if hb.vault, err = g.vaultInfo(rb, o.reveal); err != nil {
		return err
	}
	hb.write(doc)
	return nil
}

// readLive fills the live versions and the latest release from the state
// database, read-only; no database yet means nothing was ever released.
func (g *globals) readLive(ctx context.Context, hb *handbook) error {
	st, err := g.openReadStore(ctx, hb.rb)
	if errors.Is(err, runbook.ErrNothingToDo) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open the state database for the live versions: %w", err)
	}
	defer st.Close()
	live, err := st.LiveVersions(ctx)
	if err != nil {
		return err
	}
	for _, l := range live {
		if hb.live[l.Env] == nil {
			hb.live[l.Env] = map[string]runbook.Live{}
		}
		// Recorded from hosts' links: shown terminal-safe, whatever it holds.
		l.Version, l.Previous = runbook.TermSafeLine(l.Version), runbook.TermSafeLine(l.Previous)
		hb.live[l.Env][l.Host] = l
	}
	if hb.latest, err = st.Unfinished(ctx); err != nil {
		return err
	}
	if hb.latest == nil {
		rels, err := st.Releases(ctx)
		if err != nil {
			return err
		}
		if len(rels) > 0 {
			hb.latest = rels[len(rels)-1]
		}
	}
	if hb.latest != nil {
		hb.latest.Version = runbook.TermSafeLine(hb.latest.Version)
	}
	return nil
}

func (hb *handbook) write(d handbookDoc) {
	title := hb.rb.Name + " — release handbook"
	if hb.onlyEnv != "" {
		title += " (" + hb.onlyEnv + ")"
	}
	d.title(title)
	d.section("Environments")
	for _, env := range hb.envs {
		hb.writeEnv(d, env)
	}
	hb.writeContacts(d)
	hb.writeChecks(d)
	hb.writeQueries(d)
	if hb.rb.Handbook.Notes != "" {
		d.section("Notes")
		d.text(hb.rb.Handbook.Notes)
	}
	hb.vault.write(d)
}

func (hb *handbook) writeEnv(d handbookDoc, env *runbook.Environment) {
	d.subsection(env.Name)
	if dom := hb.rb.Handbook.Domains[env.Name]; dom != "" {
		d.field("domain", dom)
	}
	d.field("live", hb.liveSummary(env))
	if env.Local {
		d.field("runs", "on this machine")
	}
	if env.Workdir != "" {
		d.field("workdir", env.Workdir)
	}
	if env.DeployDir != "" {
		keep := env.Keep
		if keep == 0 {
			keep = 5
		}
		d.field("deploy dir", fmt.Sprintf("%s (keeps %d releases)", env.DeployDir, keep))
	}
	if env.User != "" {
		d.field("user", env.User)
	}
	if a := describeAuth(env.Auth); a != "" {
		d.field("auth", a)
	}
	if env.Via != "" {
		d.field("via", env.Via)
	}
	d.field("hosts at a time", fmt.Sprintf("%d (max_fail %d)", max(env.Parallel, 1), env.MaxFail))
	rows := make([][]string, 0, len(env.Hosts))
	for _, h := range env.Hosts {
		addr := h.Address
		if h.Local {
			addr = "(this machine)"
		}
		live := "never released"
		if l, ok := hb.live[env.Name][h.Name]; ok {
			live = l.Version
		}
		rows = append(rows, []string{h.Name, addr, orDash(h.User), orDash(h.DeployDir), live})
	}
	d.table([]string{"host", "address", "user", "deploy dir", "live"}, rows)
	if len(env.OpOrder) > 0 {
		ops := make([][]string, 0, len(env.OpOrder))
		for _, name := range env.OpOrder {
			ops = append(ops, []string{name, env.Operations[name]})
		}
		d.table([]string{"operation", "command"}, ops)
	}
}

// liveSummary says which version the environment runs.
func (hb *handbook) liveSummary(env *runbook.Environment) string {
	byHost := hb.live[env.Name]
	if len(byHost) == 0 {
		return "never released"
	}
	versions := map[string]bool{}
	var latest runbook.Live
	var unverified []string
	for _, h := range env.Hosts {
		l, ok := byHost[h.Name]
		if !ok {
			return "mixed: some hosts never released (see below)"
		}
		versions[l.Version] = true
		if l.At.After(latest.At) {
			latest = l
		}
		if l.VerifiedAt.IsZero() {
			unverified = append(unverified, h.Name)
		}
	}
	if len(versions) > 1 {
		return "mixed: the hosts run different versions (see below)"
	}
	s := latest.Version
	if !latest.At.IsZero() {
		s += " since " + latest.At.UTC().Format(time.DateTime) + " UTC"
	}
	if latest.ReleaseID > 0 {
		s += fmt.Sprintf(" (release #%d)", latest.ReleaseID)
	}
	if len(unverified) > 0 {
		// Switched to it, and no verify has shown it running there yet.
		s += "; not verified on " + strings.Join(unverified, ", ")
	}
	return s
}

// describeAuth says how hosts log in without showing a credential that is
// written in the file itself.
func describeAuth(a *runbook.Auth) string {
	if a == nil {
		return ""
	}
	ref := func(v string) string {
		if name, ok := runbook.ParseSecretRef(v); ok {
			return "from secret " + name
		}
		return "written in the runbook file"
	}
	switch {
	case a.Key != "":
		return "key " + ref(a.Key)
	case a.KeyFile != "":
		return "key file " + a.KeyFile
	case a.Password != "":
		return "password " + ref(a.Password)
	case a.Agent:
		return "ssh-agent"
	}
	return ""
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (hb *handbook) writeContacts(d handbookDoc) {
	cs := hb.rb.Handbook.Contacts
	if len(cs) == 0 {
		return
	}
	d.section("Contacts")
	rows := make([][]string, 0, len(cs))
	for _, c := range cs {
		rows = append(rows, []string{orDash(c.Role), c.Name, orDash(c.Phone), orDash(c.Email)})
	}
	d.table([]string{"role", "name", "phone", "email"}, rows)
}

func (hb *handbook) writeChecks(d handbookDoc) {
	var rows [][]string
	for _, c := range hb.rb.Handbook.Checks {
		if hb.onlyEnv == "" || c.On == hb.onlyEnv {
			rows = append(rows, []string{c.Name, c.On, c.Run})
		}
	}
	if len(rows) == 0 {
		return
	}
	d.section("Checks")
	d.table([]string{"check", "on", "run"}, rows)
}

// writeQueries renders each query for the latest release, so it can be
// pasted as it is; before any release it shows the template.
func (hb *handbook) writeQueries(d handbookDoc) {
	qs := hb.rb.Handbook.Queries
	if len(qs) == 0 {
		return
	}
	d.section("Queries")
	var data runbook.TemplateData
	if r := hb.latest; r != nil {
		d.field("", fmt.Sprintf("rendered for release %s (#%d, started %s UTC)", r.Version, r.ID, r.StartedAt.UTC().Format(time.DateTime)))
		data = runbook.TemplateData{
			Version: r.Version,
			Release: runbook.TemplateRelease{ID: r.ID, StartedAt: r.StartedAt.UTC().Format(time.RFC3339)},
		}
	} else {
		d.field("", "templates as written: no release yet to render them for")
	}
	for _, q := range qs {
		sql := q.SQL
		if hb.latest != nil {
			if out, err := runbook.Render(q.SQL, data, nil); err == nil {
				sql = out
			}
		}
		d.field("", q.Name+":")
		d.code(sql)
	}
}
