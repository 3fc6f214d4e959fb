package runbook

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

var stepKeys = []string{
	"name", "description", "on",
	"run", "op", "upload", "activate", "confirm", "diff", "probe",
	"signoff", "verify", "check", "undo", "timeout", "retries", "retry_delay",
	"parallel", "serial", "max_fail", "idempotent", "auto", "env", "tty", "sudo_password", "relay",
}

// envVarPattern is what sh accepts as a variable name.
var envVarPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (l *loader) decodeSteps(n *yaml.Node) {
	first := map[string]*yaml.Node{}
	for i, item := range l.list(n, "steps") {
		s := l.decodeStep(i, item)
		if s == nil {
			continue
		}
		if s.Name != "" {
			if prev := first[s.Name]; prev != nil {
				l.errorf(item, "step name %q is already used at line %d: step names are unique", s.Name, prev.Line)
			} else {
				first[s.Name] = item
			}
		}
		s.Index = len(l.rb.Steps)
		l.rb.Steps = append(l.rb.Steps, s)
	}
}

func (l *loader) decodeStep(i int, n *yaml.Node) *Step {
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "step %d must be a mapping with name: and an action, not %s", i+1, describe(n))
		return nil
	}
	fs := l.mapping(n, fmt.Sprintf("step %d", i+1))
	s := &Step{Pos: pos(n)}
	what := fmt.Sprintf("step %d", i+1)
	if v := fs.get("name"); v != nil {
		s.Name = l.name(v, "step")
		what = fmt.Sprintf("step %q", s.Name)
	} else {
		l.errorf(n, "step %d has no name: add name: (it is how prompts, logs and --from refer to it)", i+1)
	}
	l.only(fs, what, stepKeys...)
	s.Description = l.str(fs.get("description"), "description")

	if !l.stepKind(s, fs, what) {
		return s
	}
	env := l.stepEnv(s, fs, what)
	l.decodeAction(s, fs, env, what)
	l.decodeRelay(s, fs, env, what)
	l.decodeStepOptions(s, fs, what)
	return s
}

// stepKind finds the one action key of a step.
func (l *loader) stepKind(s *Step, fs fields, what string) bool {
	var found []string
	for _, f := range fs.list {
		if slices.Contains(Kinds, StepKind(f.key.Value)) {
			found = append(found, f.key.Value)
			if len(found) == 2 {
				l.errorf(f.key, "%s has both %s and %s: a step does one thing; split it into two steps", what, found[0], found[1])
			}
		}
	}
	if len(found) == 0 {
		l.errorf(fs.node, "%s has no action: give it one of run, op, upload, activate, confirm, diff or probe", what)
		return false
	}
	s.Kind = StepKind(found[0])
	return true
}

// stepEnv reads on: required by the kinds that run on hosts, refused by
// the others. It returns the environment, or nil.
func (l *loader) stepEnv(s *Step, fs fields, what string) *Environment {
	n := fs.get("on")
	if !s.HasHosts() {
		if n != nil {
			l.errorf(fs.keyNode("on"), "%s is %s step and runs on no environment: remove on", what, article(s.Kind))
		}
		return nil
	}
	if n == nil {
		l.errorf(fs.keyNode(string(s.Kind)), "%s runs on hosts but has no on: add on: ENVIRONMENT (%s)", what, l.envNames())
		return nil
	}
	s.On = l.nonEmpty(n, "on")
	if s.On == "" {
		return nil
	}
	env := l.rb.Envs[s.On]
	if env == nil {
		l.errorf(n, "%s runs on unknown environment %q%s (%s)", what, s.On, didYouMean(s.On, l.rb.EnvOrder), l.envNames())
	}
	return env
}

// decodeAction reads the action value; env is nil when on is missing or
// wrong (already reported), and the checks that need it are skipped.
func (l *loader) decodeAction(s *Step, fs fields, env *Environment, what string) {
	n := fs.get(string(s.Kind))
	key := fs.keyNode(string(s.Kind))
	switch s.Kind {
	case KindRun:
		s.Run = l.shellCommand(n, "run")
	case KindOp:
		s.Op = l.nonEmpty(n, "op")
		if env != nil && s.Op != "" {
			if _, ok := env.Operations[s.Op]; !ok {
				l.errorf(n, "%s%s", opsProblem(env, s.Op), didYouMean(s.Op, env.OpOrder))
			}
		}
	case KindUpload:
		s.Upload = l.str(n, "upload")
		if s.Upload != "artifact" {
			l.errorf(n, "upload must be artifact (the file under artifact: path), not %s", describe(n))
		} else if l.rb.Artifact.Path == "" {
			l.errorf(n, "%s uploads the artifact, but no artifact path is set: add artifact: {path: target/app.ear} at the top", what)
		}
		l.needDeployDir(key, env, what)
	case KindActivate:
		s.Activate = l.boolean(n, "activate")
		if n != nil && !s.Activate && n.ShortTag() == "!!bool" {
			l.errorf(n, "activate must be true; to not activate, remove the step")
		}
		l.needDeployDir(key, env, what)
	case KindConfirm:
		s.Confirm = l.nonEmpty(n, "confirm")
	case KindDiff:
		l.decodeDiff(s, n, what)
	case KindProbe:
		s.Probe = l.decodeProbe(n)
	}
	if v := fs.get("signoff"); v != nil {
		if s.Kind != KindConfirm {
			l.errorf(fs.keyNode("signoff"), "signoff belongs to confirm steps: %s is %s step", what, article(s.Kind))
			return
		}
		s.Signoff = l.roles(v)
	}
}

func opsProblem(env *Environment, op string) string {
	if len(env.OpOrder) == 0 {
		return fmt.Sprintf("environment %q has no operations: add operations: {%s: COMMAND} to it", env.Name, op)
	}
	return fmt.Sprintf("environment %q has no operation %q (it has %s)", env.Name, op, quoteList(env.OpOrder, "and"))
}

// article puts "a" or "an" before a step kind.
func article(k StepKind) string {
	switch k {
	case KindOp, KindUpload, KindActivate:
		return "an " + string(k)
	}
	return "a " + string(k)
}

// needDeployDir checks what upload and activate need: a deploy_dir on
// every host of the environment.
func (l *loader) needDeployDir(at *yaml.Node, env *Environment, what string) {
	if env == nil {
		return
	}
	var missing []string
	for _, h := range env.Hosts {
		if h.DeployDir == "" {
			missing = append(missing, h.Name)
		}
	}
	if len(missing) > 0 {
		l.errorf(at, "%s needs a deploy_dir on every host of environment %q, and %s has none: set deploy_dir on the environment or the host", what, env.Name, quoteList(missing, "and"))
	}
}

func (l *loader) decodeDiff(s *Step, n *yaml.Node, what string) {
	items := l.strItems(n, "diff")
	for _, item := range items {
		if l.rb.Envs[item.Value] == nil {
			l.errorf(item, "diff names unknown environment %q%s (%s)", item.Value, didYouMean(item.Value, l.rb.EnvOrder), l.envNames())
		}
	}
	s.Diff = values(items)
	switch {
	case n != nil && n.Kind == yaml.SequenceNode && len(n.Content) != 2:
		l.errorf(n, "diff compares exactly two environments, like [prerelease, production]; it has %d", len(n.Content))
	case len(s.Diff) == 2 && s.Diff[0] == s.Diff[1]:
		l.errorf(n, "diff compares two different environments, not %q with itself", s.Diff[0])
	}
	c := l.rb.Consistency
	if len(c.Files) == 0 && len(c.Commands) == 0 {
		l.errorf(n, "%s compares the consistency facts, but consistency lists no files or commands: add consistency: {files: [...], commands: [...]}", what)
	}
}

// roles reads a sign-off list: named, each once.
func (l *loader) roles(n *yaml.Node) []string {
	var out []string
	for _, item := range l.list(n, "signoff") {
		role := l.str(item, "signoff role")
		switch {
		case item.Kind != yaml.ScalarNode:
		case role == "":
			l.errorf(item, "signoff has an empty role: name each role, like [QA, DBA]")
		case slices.Contains(out, role):
			l.errorf(item, "signoff names role %q twice: remove one", role)
		default:
			out = append(out, role)
		}
	}
	if n != nil && n.Kind == yaml.SequenceNode && len(n.Content) == 0 {
		l.errorf(n, "signoff lists no roles: name them, like [QA, DBA], or remove signoff")
	}
	return out
}

// decodeStepOptions reads what follows the action. Options that act on
// host runs are refused on steps that have none, and options a built-in
// action already covers are refused rather than silently ignored.
func (l *loader) decodeStepOptions(s *Step, fs fields, what string) {
	if !s.HasHosts() {
		for _, k := range []string{"verify", "check", "undo", "parallel", "serial", "max_fail", "env", "retries", "retry_delay"} {
			if fs.get(k) != nil {
				l.errorf(fs.keyNode(k), "%s is %s step and runs on no hosts, so %s does not apply: remove it", what, article(s.Kind), k)
			}
		}
	}
	if s.Kind == KindConfirm && fs.get("auto") != nil {
		l.errorf(fs.keyNode("auto"), "%s asks the operator by nature, so auto does not apply: remove it", what)
	}
	if fs.get("check") != nil && (s.Kind == KindUpload || s.Kind == KindActivate || s.Kind == KindProbe) {
		l.errorf(fs.keyNode("check"), "%s is %s step, which is safe to run again, so check does not apply: remove it", what, article(s.Kind))
	}
	switch {
	case fs.get("undo") == nil:
	case s.Kind == KindUpload || s.Kind == KindActivate:
		l.errorf(fs.keyNode("undo"), "%s is %s step with a built-in undo: remove undo", what, article(s.Kind))
	case s.Kind == KindProbe:
		l.errorf(fs.keyNode("undo"), "%s is a probe, which changes nothing and so has nothing to undo: remove undo", what)
	}
	if fs.get("verify") == nil {
		for _, k := range []string{"retries", "retry_delay"} {
			if fs.get(k) != nil && s.HasHosts() {
				l.errorf(fs.keyNode(k), "%s sets %s, which repeats verify, but has no verify: add verify: COMMAND or remove %s", what, k, k)
			}
		}
	}
	s.Verify = l.shellCommand(fs.get("verify"), "verify")
	s.Check = l.shellCommand(fs.get("check"), "check")
	if n := fs.get("undo"); n != nil && n.Kind == yaml.ScalarNode && strings.TrimSpace(n.Value) == "none" {
		// Declared: the step changes nothing a rollback must undo.
		s.NoUndo = true
	} else {
		s.Undo = l.shellCommand(n, "undo")
	}
	s.Timeout, _ = l.duration(fs.get("timeout"), "timeout")
	s.Retries, _ = l.integer(fs.get("retries"), "retries", 0)
	s.RetryDelay, _ = l.duration(fs.get("retry_delay"), "retry_delay")
	s.Parallel, _ = l.integer(fs.get("parallel"), "parallel", 1)
	if v, ok := l.share(fs.get("serial"), "serial", 1); ok {
		s.Serial = &v
	}
	if v, ok := l.share(fs.get("max_fail"), "max_fail", 0); ok {
		s.MaxFail = &v
	}
	s.Idempotent = l.boolean(fs.get("idempotent"), "idempotent")
	s.Auto = l.boolean(fs.get("auto"), "auto")
	l.decodeTTY(s, fs, what)
	for _, f := range l.mapping(fs.get("env"), "env of "+what).list {
		name := f.key.Value
		if !envVarPattern.MatchString(name) {
			l.errorf(f.key, "env variable name %q must be letters, digits and _, not starting with a digit", name)
			continue
		}
		if isFact(name) {
			l.errorf(f.key, "env variable %s is set by runbook itself for every command of a release: remove it, or give it another name", name)
			continue
		}
		if s.Env == nil {
			s.Env = map[string]string{}
		}
		s.Env[name] = l.template(f.val, "env "+name)
		s.EnvOrder = append(s.EnvOrder, name)
	}
}

// decodeTTY reads tty: and sudo_password:. A terminal is for the commands
// a step runs on hosts, so only run and op steps take one; the password
// answers sudo's prompt on that terminal, so it needs tty: true, and it
// lives in the vault, never in the file.
func (l *loader) decodeTTY(s *Step, fs fields, what string) {
	if n := fs.get("tty"); n != nil {
		s.TTY = l.boolean(n, "tty")
		if s.Kind != KindRun && s.Kind != KindOp {
			l.errorf(fs.keyNode("tty"), "%s is %s step, and tty is for the commands of run and op steps: remove it", what, article(s.Kind))
		}
	}
	n := fs.get("sudo_password")
	if n == nil {
		return
	}
	v := l.nonEmpty(n, "sudo_password")
	name, ok := ParseSecretRef(v)
	switch {
	case v == "":
	case !ok:
		// The value is not quoted back: it may be the password itself.
		l.errorf(n, "sudo_password: write secret:NAME: the password lives in the vault (`runbook vault set NAME`), never in the file")
	case !s.TTY:
		l.errorf(fs.keyNode("sudo_password"), "%s has sudo_password, which answers sudo's prompt on a terminal, but no tty: add tty: true", what)
	default:
		l.noteSecretRef(name, pos(n)) // for validate's vault check
		s.SudoPassword = v
	}
}
