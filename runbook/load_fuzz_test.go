package runbook

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// FuzzParse checks that no file, however broken, crashes the loader, and
// that every failure is a positioned file error naming the file.
func FuzzParse(f *testing.F) {
	spec, err := os.ReadFile("testdata/spec.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(spec)
	f.Add([]byte(""))
	f.Add([]byte("name: t\nsteps:\n  - name: a\n    run: [oops\n"))
	f.Add([]byte("name: t\nsteps:\n\t- name: a\n"))
	f.Add([]byte("name: t\n---\nname: u\n"))
	f.Add([]byte("name: t\nenvironments:\n  e: &e\n    <<: *e\n"))
	f.Add([]byte("name: t\nx-a: &a {user: u}\nenvironments:\n  e: {<<: [*a, *a], hosts: [{name: h, address: \"[::1]:22\"}]}\n"))
	f.Add([]byte("name: t\nenvironments: {a: {via: b1, hosts: [{name: a1, address: x}]}, b: {via: a1, hosts: [{name: b1, address: y}]}}\n"))
	f.Add([]byte("name: t\nsteps: [{name: a, on: e, run: \"{{ secret .X }}\", probe: {http: [{url: \"ftp://\"}]}}]\n"))
	for _, tc := range parseErrorCases {
		f.Add([]byte(tc.file))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rb, err := Parse("fuzz.yaml", data)
		if err == nil {
			if rb == nil || rb.Name == "" {
				t.Fatalf("Parse succeeded with runbook %+v: a runbook always has a name", rb)
			}
			return
		}
		var fe *FileError
		var fes FileErrors
		if !errors.As(err, &fe) && !errors.As(err, &fes) {
			t.Fatalf("err = %#v, want *FileError or FileErrors", err)
		}
		for _, line := range strings.Split(err.Error(), "\n") {
			if !strings.HasPrefix(line, "fuzz.yaml:") {
				t.Fatalf("error line %q does not start with the file name", line)
			}
		}
	})
}
