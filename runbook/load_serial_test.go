package runbook

import "testing"

// serial and max_fail are read as counts or percentages, on environments
// and steps; a step that sets neither takes its environment's.
func TestLoadRollingKeys(t *testing.T) {
	rb, err := Parse("rb.yaml", []byte(`name: t
environments:
  web:
    parallel: 20
    serial: 25%
    max_fail: 10%
    hosts: [{name: w1, address: a}]
  db:
    serial: 2
    max_fail: 1
    hosts: [{name: d1, address: b}]
steps:
  - {name: stage, on: web, run: x, serial: 100%, max_fail: 0}
  - {name: restart, on: web, run: y}
  - {name: migrate, on: db, run: z, max_fail: 50%}
`))
	if err != nil {
		t.Fatal(err)
	}
	web, db := rb.Envs["web"], rb.Envs["db"]
	if web.Serial != (Share{N: 25, Percent: true}) || web.MaxFail != (Share{N: 10, Percent: true}) || web.Parallel != 20 {
		t.Errorf("web: serial %v max_fail %v parallel %d", web.Serial, web.MaxFail, web.Parallel)
	}
	if db.Serial != (Share{N: 2}) || db.MaxFail != (Share{N: 1}) {
		t.Errorf("db: serial %v max_fail %v", db.Serial, db.MaxFail)
	}
	stage, restart, migrate := rb.Step("stage"), rb.Step("restart"), rb.Step("migrate")
	if stage.Serial == nil || *stage.Serial != (Share{N: 100, Percent: true}) || stage.MaxFail == nil || *stage.MaxFail != (Share{}) {
		t.Errorf("stage: serial %v max_fail %v, want its own 100%% and 0", stage.Serial, stage.MaxFail)
	}
	if restart.Serial != nil || restart.MaxFail != nil {
		t.Errorf("restart: serial %v max_fail %v, want the environment's (nil)", restart.Serial, restart.MaxFail)
	}
	if migrate.Serial != nil || migrate.MaxFail == nil || *migrate.MaxFail != (Share{N: 50, Percent: true}) {
		t.Errorf("migrate: serial %v max_fail %v", migrate.Serial, migrate.MaxFail)
	}
	if got := web.Serial.String() + " " + db.MaxFail.String(); got != "25% 1" {
		t.Errorf("String() = %q", got)
	}
}

// A percentage counts down, as Ansible's serial and max_fail_percentage
// do: 10% of 15 hosts is 1, of 9 hosts 0.
func TestShareOf(t *testing.T) {
	for _, tc := range []struct {
		s    Share
		n    int
		want int
	}{
		{Share{N: 3}, 100, 3},
		{Share{N: 3}, 2, 3},
		{Share{N: 10, Percent: true}, 100, 10},
		{Share{N: 10, Percent: true}, 15, 1},
		{Share{N: 10, Percent: true}, 9, 0},
		{Share{N: 100, Percent: true}, 7, 7},
		{Share{N: 0, Percent: true}, 50, 0},
	} {
		if got := tc.s.Of(tc.n); got != tc.want {
			t.Errorf("%v of %d = %d, want %d", tc.s, tc.n, got, tc.want)
		}
	}
}
