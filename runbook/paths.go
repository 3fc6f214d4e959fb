package runbook

import (
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// localPath resolves a path on the operator machine: "~/" is the home
// directory and a relative path is relative to the runbook file, so a
// release behaves the same from whatever directory it is started.
func (l *loader) localPath(n *yaml.Node, p string) string {
	if p == "" {
		return ""
	}
	if p == "~" || strings.HasPrefix(p, "~/") {
		home, err := os.UserHomeDir()
		if err != nil {
			l.errorf(n, "cannot expand ~ in %q: %v; write the full path", p, err)
			return p
		}
		p = filepath.Join(home, p[1:])
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(l.rb.Dir, p)
	}
	return filepath.Clean(p)
}
