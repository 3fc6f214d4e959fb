package remote

import (
	"context"
	"testing"
	"time"
)

func TestBootedSince(t *testing.T) {
	boot := time.Date(2026, 11, 26, 20, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name        string
		boot, since time.Time
		want        bool
	}{
		{"intent long after the boot", boot, boot.Add(3 * time.Hour), false},
		{"intent before the boot", boot, boot.Add(-time.Hour), true},
		{"intent within the margin after the boot", boot, boot.Add(time.Minute), true},
		{"intent past the margin", boot, boot.Add(3 * time.Minute), false},
		{"intent unknown", boot, time.Time{}, false},
		{"boot unknown", time.Time{}, boot, true},
	} {
		if got := bootedSince(tc.boot, tc.since, remoteBootMargin); got != tc.want {
			t.Errorf("%s: bootedSince = %v, want %v", tc.name, got, tc.want)
		}
	}
	if got := parseBtime("cpu  1 2 3\nbtime 1764180000\nprocesses 9\n"); !got.Equal(time.Unix(1764180000, 0)) {
		t.Errorf("parseBtime = %v", got)
	}
	if got := parseBtime("cpu 1 2\n"); !got.IsZero() {
		t.Errorf("parseBtime without btime = %v, want zero", got)
	}
}

// A run whose intent was committed before the machine last booted may
// have lost its unsynced .started: without it, the run is in doubt, not
// "never started" (which would run it again). After the boot, a missing
// .started still means never started. Both transports.
func TestMarkersAfterARestart(t *testing.T) {
	boot := LocalBootTime()
	if boot.IsZero() {
		t.Skip("no /proc/stat btime on this machine")
	}
	// Intents dated around the real boot: no need to restart anything,
	// and no need for the machine to have been up long.
	beforeBoot, afterBoot := boot.Add(-time.Hour), boot.Add(remoteBootMargin+time.Minute)
	ctx := context.Background()

	local := NewLocal(HostConfig{Name: "build", Local: true, MarkerDir: t.TempDir()})
	ssh, _ := realSSHD(t)
	for name, c := range map[string]Conn{"local": local, "ssh": ssh} {
		if m, err := c.Markers(ctx, "r1-a", beforeBoot); err != nil || m.State != InDoubt {
			t.Errorf("%s, intent before the boot: %+v %v, want in doubt", name, m, err)
		}
		if m, err := c.Markers(ctx, "r1-b", afterBoot); err != nil || m.State != NeverStarted {
			t.Errorf("%s, intent after the boot: %+v %v, want never started", name, m, err)
		}
		// A finished run is finished whenever the machine booted.
		if code, err := c.Exec(ctx, ExecSpec{Script: "exit 4", Token: "r1-c"}); err != nil || code != 4 {
			t.Fatalf("%s: Exec %d %v", name, code, err)
		}
		if m, err := c.Markers(ctx, "r1-c", beforeBoot); err != nil || m.State != Finished || m.ExitCode != 4 {
			t.Errorf("%s, finished run: %+v %v, want finished with 4", name, m, err)
		}
	}
}

func TestPastRetention(t *testing.T) {
	for _, tc := range []struct {
		since time.Time
		want  bool
	}{
		{time.Time{}, false},
		{time.Now(), false},
		{time.Now().Add(-MarkerRetention + 2*retentionMargin), false},
		{time.Now().Add(-MarkerRetention), true},
	} {
		if got := pastRetention(tc.since); got != tc.want {
			t.Errorf("pastRetention(%v) = %v, want %v", tc.since, got, tc.want)
		}
	}
}
