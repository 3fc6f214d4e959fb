package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/runbook-dev/runbook/runbook/cli"
	"github.com/runbook-dev/runbook/secrets"
)

// TestMain lets the test binary be the runbook command inside the
// scripts of testdata/script (`exec runbook ...`), as age's cmd/age tests
// do: every script runs the real command line, in its own process, with
// real files, exit codes and output.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"runbook": func() {
			// A vault opens in milliseconds rather than a second: the
			// scripts never meet a vault made by a real runbook.
			secrets.ScryptWorkFactor = 8
			os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
		},
	})
}

// TestScript runs testdata/script/*.txtar: the commands that need no SSH
// server, as an operator types them (`go test -run TestScript/vault`
// runs one script).
func TestScript(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("testdata", "script"),
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			// A home of its own: no known_hosts, vault or identity of
			// the developer's leaks in.
			home := filepath.Join(env.WorkDir, "home")
			env.Setenv("HOME", home)
			return os.MkdirAll(home, 0o700)
		},
		Cmds: map[string]func(*testscript.TestScript, bool, []string){
			"exitcode": cmdExitCode,
			"json":     cmdJSON,
		},
	})
}

// cmdExitCode runs a command as exec does and checks its exit code, the
// part of the contract that `! exec` cannot tell apart (SPEC §2):
//
//	exitcode CODE PROG [ARGS...]
func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode CODE PROG [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exitcode: %q is not a number", args[0])
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exitcode: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with %d, want %d", args[1], got, want)
	}
}

// cmdJSON checks one value of a JSON document without jq:
//
//	json FILE PATH WANT
//
// FILE is a file of the script's work directory, or stdout or stderr of
// the last command. PATH is dot-separated object keys and array indices
// ("steps.0.hosts.0.exit_code"), "." for the document itself; a last
// element "len()" is the length of the array or object, "keys()" the
// object's keys in document order, comma-separated. A string is compared as it
// is, anything else as compact JSON ("null", "0", "true", "[]").
func cmdJSON(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: json FILE PATH WANT")
	}
	file, path, want := args[0], args[1], args[2]
	var data string
	switch file {
	case "stdout":
		data = ts.ReadFile("stdout")
	case "stderr":
		data = ts.ReadFile("stderr")
	default:
		data = ts.ReadFile(file)
	}
	got, err := jsonAt([]byte(data), path)
	if err != nil {
		ts.Fatalf("%s: %v", file, err)
	}
	if (got == want) == neg {
		if neg {
			ts.Fatalf("%s: %s is %s", file, path, got)
		}
		ts.Fatalf("%s: %s is %s, want %s", file, path, got, want)
	}
}

// jsonAt returns the value at path in the document, as cmdJSON compares it.
func jsonAt(data []byte, path string) (string, error) {
	var elems []string
	if path != "." {
		elems = strings.Split(path, ".")
	}
	raw := json.RawMessage(data)
	if !json.Valid(raw) {
		return "", fmt.Errorf("not JSON: %.80q", data)
	}
	for i, e := range elems {
		last := i == len(elems)-1
		if last && (e == "len()" || e == "keys()") {
			keys, n, err := shape(raw)
			if err != nil {
				return "", fmt.Errorf("%s: %v", strings.Join(elems[:i], "."), err)
			}
			if e == "len()" {
				return strconv.Itoa(n), nil
			}
			if keys == nil {
				return "", fmt.Errorf("%s is not an object", strings.Join(elems[:i], "."))
			}
			return strings.Join(keys, ","), nil
		}
		next, err := child(raw, e)
		if err != nil {
			return "", fmt.Errorf("%s: %v", strings.Join(elems[:i+1], "."), err)
		}
		raw = next
	}
	var s string
	if bytes.HasPrefix(bytes.TrimSpace(raw), []byte(`"`)) && json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return "", err
	}
	return b.String(), nil
}

// child is the member named key of an object, or the element at an index
// of an array.
func child(raw json.RawMessage, key string) (json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) == nil {
		v, ok := obj[key]
		if !ok {
			return nil, fmt.Errorf("no member %q", key)
		}
		return v, nil
	}
	var arr []json.RawMessage
	if err := json.Unmarshal(raw, &arr); err != nil {
		return nil, fmt.Errorf("neither an object nor an array")
	}
	i, err := strconv.Atoi(key)
	if err != nil || i < 0 || i >= len(arr) {
		return nil, fmt.Errorf("no element %q in an array of %d", key, len(arr))
	}
	return arr[i], nil
}

// shape returns an object's keys in document order (nil for an array)
// and the number of members or elements.
func shape(raw json.RawMessage) ([]string, int, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, 0, err
	}
	d, ok := tok.(json.Delim)
	if !ok || (d != '{' && d != '[') {
		return nil, 0, fmt.Errorf("neither an object nor an array")
	}
	keys := []string{}
	n := 0
	for dec.More() {
		if d == '{' {
			k, err := dec.Token()
			if err != nil {
				return nil, 0, err
			}
			keys = append(keys, k.(string))
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, 0, err
		}
		n++
	}
	if d == '[' {
		keys = nil
	}
	return keys, n, nil
}

// TestJSONAt checks the scripts' json command on a document of every kind
// of value, so a broken checker cannot pass a script that checks nothing.
func TestJSONAt(t *testing.T) {
	doc := []byte(`{"b": 1, "a": [{"x": null, "y": "two words"}, {}], "c": true, "d": {}, "e": []}`)
	for path, want := range map[string]string{
		".":          `{"b":1,"a":[{"x":null,"y":"two words"},{}],"c":true,"d":{},"e":[]}`,
		"keys()":     "b,a,c,d,e",
		"len()":      "5",
		"b":          "1",
		"a.len()":    "2",
		"a.0.keys()": "x,y",
		"a.0.x":      "null",
		"a.0.y":      "two words",
		"a.1":        "{}",
		"c":          "true",
		"d.keys()":   "",
		"e":          "[]",
		"e.len()":    "0",
	} {
		got, err := jsonAt(doc, path)
		if err != nil || got != want {
			t.Errorf("jsonAt(%s) = %q, %v; want %q", path, got, err, want)
		}
	}
	for _, path := range []string{"z", "a.2", "a.x", "b.c", "a.keys()", "b.len()"} {
		if got, err := jsonAt(doc, path); err == nil {
			t.Errorf("jsonAt(%s) = %q, want an error", path, got)
		}
	}
	if _, err := jsonAt([]byte("runbook: error: no\n"), "."); err == nil {
		t.Error("jsonAt accepted text that is not JSON")
	}
}
