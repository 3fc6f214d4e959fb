package runbook

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"go.yaml.in/yaml/v3"
)

// topKeys are the keys of the runbook file itself (SPEC §3).
var topKeys = []string{"name", "artifact", "known_hosts", "vault", "state", "state_password", "environments", "consistency", "handbook", "hooks", "steps"}

// loader decodes and validates one runbook file, collecting every problem
// instead of stopping at the first.
type loader struct {
	problems
	rb    *Runbook
	lines []string // the file's lines, to place errors inside block scalars

	aliasUses     int
	aliasLimitHit bool

	// What the model does not keep but checks after all environments are
	// read need: the via value nodes, and which hosts were made up.
	viaNodes map[*Environment]*yaml.Node
	implicit map[*Host]bool
}

// Load reads and validates the runbook file at path. Errors are a
// *FileError or FileErrors naming path as given, so messages point at the
// file the way the operator typed it.
func Load(path string) (*Runbook, error) {
	data, err := readRunbookFile(path)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, &FileError{File: path, Msg: fmt.Sprintf("cannot find the runbook file's directory: %v", err)}
	}
	return parseRunbook(path, abs, data)
}

// MaxFileSize bounds the runbook file. A real one is a few kilobytes; the
// YAML tree takes some eighty times the file's size in memory, so the cap
// is what keeps a huge or endless file (a mistaken -f, /dev/zero) from
// taking the machine's memory.
const MaxFileSize = 4 << 20

// readRunbookFile reads the runbook file: a regular file of at most
// MaxFileSize bytes. A FIFO would block the read for ever, a device could
// be endless, so anything else is refused before it is read. The file is
// opened without blocking and checked again once open, in case it was
// swapped after the first look.
func readRunbookFile(path string) ([]byte, error) {
	fileErr := func(format string, a ...any) error {
		return &FileError{File: path, Msg: fmt.Sprintf(format, a...)}
	}
	cannot := func(err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return fileErr("runbook file not found")
		}
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fileErr("cannot read the runbook file: %v; check the path and its permissions", err)
	}
	regular := func(fi fs.FileInfo) error {
		switch {
		case fi.IsDir():
			return fileErr("is a directory, not a runbook file: point -f/--file at the runbook.yaml inside it")
		case !fi.Mode().IsRegular():
			return fileErr("is not a regular file (it is a %s): -f/--file takes a runbook file, not a pipe or a device", fileKind(fi.Mode()))
		case fi.Size() > MaxFileSize:
			return fileErr("is %d bytes, more than the %d MiB a runbook file may have: is -f/--file pointing at the right file?", fi.Size(), MaxFileSize>>20)
		}
		return nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, cannot(err)
	}
	if err := regular(fi); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, cannot(err)
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, cannot(err)
	}
	if err := regular(fi); err != nil {
		return nil, err
	}
	// The size may grow after the check: read one byte more than allowed
	// to tell.
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, cannot(err)
	}
	if len(data) > MaxFileSize {
		return nil, fileErr("grew past the %d MiB a runbook file may have while it was read", MaxFileSize>>20)
	}
	return data, nil
}

// fileKind names what a non-regular file is, for a message.
func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "named pipe (FIFO)"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	case m&fs.ModeSocket != 0:
		return "socket"
	}
	return "special file"
}

// Parse validates a runbook file already read. file names it in errors;
// relative paths inside resolve against its directory.
func Parse(file string, data []byte) (*Runbook, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		abs = filepath.Clean(file)
	}
	return parseRunbook(file, abs, data)
}

func parseRunbook(display, abs string, data []byte) (*Runbook, error) {
	sum := sha256.Sum256(data)
	l := &loader{
		problems: problems{file: display},
		rb:       &Runbook{File: abs, Dir: filepath.Dir(abs), Hash: hex.EncodeToString(sum[:])},
		lines:    strings.Split(string(data), "\n"),
		viaNodes: map[*Environment]*yaml.Node{},
		implicit: map[*Host]bool{},
	}
	root, err := l.readYAML(data)
	if err != nil {
		return nil, err
	}
	l.decodeRunbook(root)
	if err := l.err(); err != nil {
		return nil, err
	}
	return l.rb, nil
}

// readYAML parses the single YAML document of the file.
func (l *loader) readYAML(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	err := decodeYAML(dec, &doc)
	if errors.Is(err, io.EOF) || err == nil && len(doc.Content) == 0 {
		return nil, &FileError{File: l.file, Line: 1, Col: 1, Msg: `the runbook file is empty: run "runbook init" for an example to start from`}
	}
	if err != nil {
		return nil, l.yamlError(err)
	}
	var next yaml.Node
	switch err := decodeYAML(dec, &next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, l.yamlError(err)
	default:
		return nil, &FileError{File: l.file, Line: next.Line, Col: next.Column, Msg: "a second YAML document starts here: a runbook file holds one; remove the extra ---"}
	}
	return doc.Content[0], nil
}

// decodeYAML turns a panic inside the YAML parser into an error: a hostile
// or broken file must end in a message, never a crash.
func decodeYAML(dec *yaml.Decoder, v *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: %v", r)
		}
	}()
	return dec.Decode(v)
}

func (l *loader) decodeRunbook(root *yaml.Node) {
	rb := l.rb
	if root.Kind != yaml.MappingNode {
		l.errorf(root, "the runbook file must be a mapping with name:, environments: and steps:, not %s", describe(root))
		return
	}
	top := l.mapping(root, "the runbook file")
	l.only(withoutExtensions(top), "the runbook file", topKeys...)
	if n := top.get("name"); n != nil {
		rb.Name = l.nonEmpty(n, "name")
	} else {
		l.errorf(root, "the runbook has no name: add name: at the top (it titles the logs and reports)")
	}
	if n := top.get("known_hosts"); n != nil {
		rb.KnownHosts = l.localPath(n, l.nonEmpty(n, "known_hosts"))
	}
	if n := top.get("vault"); n != nil {
		rb.Vault = l.localPath(n, l.nonEmpty(n, "vault"))
	}
	l.decodeState(top.get("state"), top.get("state_password"))
	l.decodeArtifact(top.get("artifact"))
	// Environments first: steps, checks and domains refer to them.
	l.decodeEnvironments(top.get("environments"))
	l.decodeConsistency(top.get("consistency"))
	l.decodeHandbook(top.get("handbook"))
	l.decodeHooks(top.get("hooks"))
	l.decodeSteps(top.get("steps"))
}

// withoutExtensions drops top-level keys starting with "x-": as in Compose
// files, they are a place to define YAML anchors that environments and
// steps then share with aliases and "<<" merges.
func withoutExtensions(fs fields) fields {
	out := fields{node: fs.node}
	for _, f := range fs.list {
		if !strings.HasPrefix(f.key.Value, "x-") {
			out.list = append(out.list, f)
		}
	}
	return out
}

// Summary is the one line runbook validate prints.
func (rb *Runbook) Summary() string {
	hosts := 0
	for _, name := range rb.EnvOrder {
		hosts += len(rb.Envs[name].Hosts)
	}
	return fmt.Sprintf("%s: %s, %s, %s", rb.Name, plural(len(rb.Steps), "step"), plural(len(rb.EnvOrder), "environment"), plural(hosts, "host"))
}
