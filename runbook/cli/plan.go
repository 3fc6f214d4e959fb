package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/runbook-dev/runbook/runbook"
	"github.com/runbook-dev/runbook/steps"
	"github.com/spf13/cobra"
)

// planStep is one step of `runbook plan --json`.
type planStep struct {
	Index      int        `json:"index"`
	Name       string     `json:"name"`
	Kind       string     `json:"kind"`
	Env        string     `json:"env,omitempty"`
	Action     string     `json:"action,omitempty"`
	Auto       bool       `json:"auto"`
	Idempotent bool       `json:"idempotent"`
	Signoff    []string   `json:"signoff,omitempty"`
	Hosts      []planHost `json:"hosts"`
}

type planHost struct {
	Host    string `json:"host"`
	Address string `json:"address,omitempty"`
	Command string `json:"command,omitempty"`
	Verify  string `json:"verify,omitempty"`
	Check   string `json:"check,omitempty"`
	Undo    string `json:"undo,omitempty"`
}

func newPlan(g *globals) *cobra.Command {
	var version string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "The ordered steps with their environment, hosts, kind and rendered commands",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := runbook.CheckVersion(version); err != nil {
				return badVersion("--version", err)
			}
			rb, err := g.load()
			if err != nil {
				return err
			}
			plan := buildPlan(rb, version)
			if asJSON {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(plan)
			}
			fmt.Fprintf(g.stdout, "%s — release %s, %d steps\n", bold.Sprint(rb.Name), version, len(plan))
			for _, p := range plan {
				where := ""
				if p.Env != "" {
					where = " on " + p.Env
				}
				flags := []string{}
				if p.Auto {
					flags = append(flags, "auto")
				}
				if p.Idempotent {
					flags = append(flags, "idempotent")
				}
				fl := ""
				if len(flags) > 0 {
					fl = faint.Sprintf(" [%s]", strings.Join(flags, ", "))
				}
				fmt.Fprintf(g.stdout, "\n%s %s %s%s\n", bold.Sprintf("%2d.", p.Index+1), bold.Sprint(p.Name), faint.Sprint("— "+p.Kind+where), fl)
				if p.Action != "" {
					fmt.Fprintf(g.stdout, "    %s\n", p.Action)
				}
				for _, h := range p.Hosts {
					addr := ""
					if h.Address != "" {
						addr = " (" + h.Address + ")"
					}
					fmt.Fprintf(g.stdout, "    %s%s\n", h.Host, faint.Sprint(addr))
					for _, kv := range [][2]string{{"$", h.Command}, {"verify:", h.Verify}, {"check:", h.Check}, {"undo:", h.Undo}} {
						if kv[1] != "" {
							fmt.Fprintf(g.stdout, "      %s %s\n", kv[0], strings.ReplaceAll(strings.TrimRight(kv[1], "\n"), "\n", "\n        "))
						}
					}
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&version, "version", "VERSION", "version to render the commands with")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func buildPlan(rb *runbook.Runbook, version string) []planStep {
	var out []planStep
	for _, s := range rb.Steps {
		p := planStep{Index: s.Index, Name: s.Name, Kind: string(s.Kind), Env: s.On, Auto: s.Auto, Idempotent: s.IsIdempotent(), Signoff: s.Signoff, Hosts: []planHost{}}
		p.Action = steps.Describe(rb, s, version)
		if s.HasHosts() {
			env := rb.Envs[s.On]
			for _, h := range env.Hosts {
				d := planData(rb, s, h, version)
				ph := planHost{Host: h.Name, Address: h.Address,
					Command: runbook.RenderForDisplay(s.Command(env), d),
					Verify:  runbook.RenderForDisplay(s.Verify, d),
					Check:   runbook.RenderForDisplay(s.Check, d),
					Undo:    runbook.RenderForDisplay(s.Undo, d)}
				p.Hosts = append(p.Hosts, ph)
			}
		}
		out = append(out, p)
	}
	return out
}

func planData(rb *runbook.Runbook, s *runbook.Step, h *runbook.Host, version string) runbook.TemplateData {
	d := runbook.TemplateData{
		Version:  version,
		Release:  runbook.TemplateRelease{StartedAt: time.Now().UTC().Format(time.RFC3339), Previous: "PREVIOUS"},
		Host:     runbook.TemplateHost{Name: h.Name, Address: h.Address, DeployDir: h.DeployDir},
		Env:      runbook.TemplateEnv{Name: h.Env.Name, DeployDir: h.Env.DeployDir},
		Artifact: runbook.TemplateArtifact{Name: rb.Artifact.Name, SHA256: "SHA256"},
	}
	if h.DeployDir != "" {
		d.Release.Dir = h.DeployDir + "/releases/" + version
	}
	return d
}
