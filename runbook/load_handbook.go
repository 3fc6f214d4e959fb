package runbook

import (
	"path/filepath"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

var (
	artifactKeys    = []string{"path"}
	consistencyKeys = []string{"files", "commands", "ignore"}
	handbookKeys    = []string{"domains", "contacts", "checks", "queries", "notes"}
	contactKeys     = []string{"role", "name", "phone", "email"}
	checkKeys       = []string{"name", "on", "run"}
	queryKeys       = []string{"name", "sql"}
)

func (l *loader) decodeArtifact(n *yaml.Node) {
	if n == nil {
		return
	}
	fs := l.mapping(n, "artifact")
	l.only(fs, "artifact", artifactKeys...)
	v := fs.get("path")
	if v == nil {
		if fs.node != nil && (fs.node.Kind == yaml.MappingNode || isNull(fs.node)) {
			l.errorf(n, "artifact has no path: add path: target/app.ear (relative to the runbook file)")
		}
		return
	}
	a := &l.rb.Artifact
	a.Path = l.nonEmpty(v, "path")
	a.Pos = pos(v)
	if a.Path == "" {
		return
	}
	if strings.HasSuffix(a.Path, "/") {
		l.errorf(v, "artifact path %q names a directory: name the file to ship, like target/app.ear", a.Path)
		return
	}
	a.Abs = l.localPath(v, a.Path)
	a.Name = filepath.Base(a.Abs)
}

func (l *loader) decodeConsistency(n *yaml.Node) {
	fs := l.mapping(n, "consistency")
	l.only(fs, "consistency", consistencyKeys...)
	c := &l.rb.Consistency
	c.Files = values(l.strItems(fs.get("files"), "files"))
	commands := l.strItems(fs.get("commands"), "commands")
	c.Commands = values(commands)
	for _, item := range commands {
		l.checkQuotingAt(item, "consistency command", item.Value) // run on every host like any command
	}
	for _, item := range l.strItems(fs.get("ignore"), "ignore") {
		if _, err := regexp.Compile(item.Value); err != nil {
			l.errorf(item, "ignore pattern %q is not a valid regular expression: %s", item.Value, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
			continue
		}
		c.Ignore = append(c.Ignore, item.Value)
	}
}

func (l *loader) decodeHandbook(n *yaml.Node) {
	fs := l.mapping(n, "handbook")
	l.only(fs, "handbook", handbookKeys...)
	hb := &l.rb.Handbook
	for _, f := range l.mapping(fs.get("domains"), "domains").list {
		if l.rb.Envs[f.key.Value] == nil {
			l.errorf(f.key, "domains names unknown environment %q%s (%s)", f.key.Value, didYouMean(f.key.Value, l.rb.EnvOrder), l.envNames())
			continue
		}
		if hb.Domains == nil {
			hb.Domains = map[string]string{}
		}
		hb.Domains[f.key.Value] = l.nonEmpty(f.val, "domain")
	}
	for _, item := range l.list(fs.get("contacts"), "contacts") {
		c := l.mapping(item, "a contact")
		l.only(c, "a contact", contactKeys...)
		if c.get("name") == nil && c.node != nil && c.node.Kind == yaml.MappingNode {
			l.errorf(item, "contact has no name: add name: (who to call)")
		}
		hb.Contacts = append(hb.Contacts, Contact{
			Role:  l.str(c.get("role"), "role"),
			Name:  l.nonEmptyIfSet(c.get("name"), "name"),
			Phone: l.str(c.get("phone"), "phone"),
			Email: l.str(c.get("email"), "email"),
		})
	}
	names := map[string]int{}
	for _, item := range l.list(fs.get("checks"), "checks") {
		if ck, ok := l.decodeCheck(item, names); ok {
			hb.Checks = append(hb.Checks, ck)
		}
	}
	names = map[string]int{}
	for _, item := range l.list(fs.get("queries"), "queries") {
		q := l.mapping(item, "a query")
		l.only(q, "a query", queryKeys...)
		if q.node == nil || q.node.Kind != yaml.MappingNode {
			continue
		}
		query := Query{Name: l.handbookName(item, q, "query", names), SQL: l.command(q.get("sql"), "sql")}
		if q.get("sql") == nil {
			l.errorf(item, "query has no sql: add sql: SELECT ...")
		}
		hb.Queries = append(hb.Queries, query)
	}
	hb.Notes = l.str(fs.get("notes"), "notes")
}

func (l *loader) decodeCheck(n *yaml.Node, names map[string]int) (Check, bool) {
	fs := l.mapping(n, "a check")
	l.only(fs, "a check", checkKeys...)
	if fs.node == nil || fs.node.Kind != yaml.MappingNode {
		return Check{}, false
	}
	ck := Check{Name: l.handbookName(n, fs, "check", names)}
	if v := fs.get("on"); v == nil {
		l.errorf(n, "check has no on: add on: ENVIRONMENT (%s)", l.envNames())
	} else if ck.On = l.nonEmpty(v, "on"); ck.On != "" && l.rb.Envs[ck.On] == nil {
		l.errorf(v, "check runs on unknown environment %q%s (%s)", ck.On, didYouMean(ck.On, l.rb.EnvOrder), l.envNames())
	}
	if v := fs.get("run"); v == nil {
		l.errorf(n, "check has no run: add run: COMMAND")
	} else {
		ck.Run = l.shellCommand(v, "run")
	}
	return ck, true
}

// handbookName reads the name of a check or query: free text, but
// required and unique, since the panel and the handbook list them by name.
func (l *loader) handbookName(item *yaml.Node, fs fields, what string, seen map[string]int) string {
	v := fs.get("name")
	if v == nil {
		l.errorf(item, "%s has no name: add name: (it labels the %s in the handbook and the panel)", what, what)
		return ""
	}
	name := l.nonEmpty(v, "name")
	if line, dup := seen[name]; dup && name != "" {
		l.errorf(v, "%s name %q is already used at line %d: name each %s differently", what, name, line, what)
	} else {
		seen[name] = v.Line
	}
	return name
}
