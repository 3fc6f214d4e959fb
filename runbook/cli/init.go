package cli

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

// example is the billing-center night that `runbook init` writes: runnable
// on this machine as it is, with the real-host variants in comments.
//
//go:embed example
var example embed.FS

func newInit(g *globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "init [DIR]",
		Short: "Write a commented example runbook.yaml (the billing-center night) and a .gitignore",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			return writeExample(g, dir, force)
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing runbook.yaml")
	return cmd
}

func writeExample(g *globals, dir string, force bool) error {
	target := filepath.Join(dir, "runbook.yaml")
	if _, err := os.Stat(target); err == nil && !force {
		return usagef("%s already exists; it was left as it is (--force overwrites it)", target)
	}
	var written []string
	err := fs.WalkDir(example, "example", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p, "example"), "/")
		if rel == "gitignore" {
			rel = ".gitignore"
		}
		out := filepath.Join(dir, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		if rel == ".gitignore" {
			if _, err := os.Stat(out); err == nil {
				return appendGitignore(out)
			}
		}
		b, err := example.ReadFile(p)
		if err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(rel, ".sh") {
			mode = 0o755
		}
		if _, err := os.Stat(out); err == nil && rel != "runbook.yaml" && !force {
			return nil // keep the operator's own files
		}
		if err := os.WriteFile(out, b, mode); err != nil {
			return err
		}
		written = append(written, rel)
		return nil
	})
	if err != nil {
		return fmt.Errorf("write the example into %s: %w", dir, err)
	}
	fmt.Fprintf(g.stdout, "wrote %s in %s\n", strings.Join(written, ", "), dir)
	fmt.Fprintf(g.stdout, "next: cd %s && runbook plan --version 1.0.0 && runbook start --version 1.0.0\n", dir)
	return nil
}

// appendGitignore adds .runbook/ to an existing .gitignore once.
func appendGitignore(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(l) == ".runbook/" {
			return nil
		}
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	prefix := ""
	if len(b) > 0 && !strings.HasSuffix(string(b), "\n") {
		prefix = "\n"
	}
	_, err = f.WriteString(prefix + "# runbook's state database, logs and run markers\n.runbook/\n")
	return errors.Join(err, f.Close())
}
