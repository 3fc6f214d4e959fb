package e2e

import (
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/runbook-dev/runbook/steps/remote/sshdtest"
)

// TestRemoteLineShowsWithinHalfASecond runs the field notes' command in
// a real terminal against a real sshd host: each line the host prints is
// on the operator's screen within 0.5 s (the bound; here it takes
// milliseconds), not when the next line comes 2 s later, as it did.
func TestRemoteLineShowsWithinHalfASecond(t *testing.T) {
	h := sshdtest.Start(t, sshdtest.Options{})
	dir := t.TempDir()
	write(t, dir, "known_hosts", h.KnownHostsLine()+"\n")
	write(t, dir, "runbook.yaml", fmt.Sprintf(`name: stream
known_hosts: known_hosts
environments:
  pre:
    user: %s
    auth: {key_file: %s}
    hosts: [{name: pre1, address: "%s"}]
`, h.User, h.ClientKey, h.Addr))
	tm := newTmux(t)
	tm.run(dir, bin+` exec pre -- 'for i in 1 2 3; do echo "line $i $(date +%s%N)"; sleep 2; done'`)

	line := regexp.MustCompile(`pre1 +│ line (\d) (\d{19})`)
	shown, printed := map[string]time.Time{}, map[string]time.Time{}
	deadline := time.Now().Add(60 * time.Second)
	for len(shown) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for three lines:\n%s", tm.screen())
		}
		screen := tm.screen()
		now := time.Now()
		for _, m := range line.FindAllStringSubmatch(screen, -1) {
			if _, ok := shown[m[1]]; ok {
				continue
			}
			ns, _ := strconv.ParseInt(m[2], 10, 64)
			shown[m[1]], printed[m[1]] = now, time.Unix(0, ns)
		}
		time.Sleep(20 * time.Millisecond)
	}
	tm.waitFor("EXIT=0")
	for _, i := range []string{"1", "2", "3"} {
		lag := shown[i].Sub(printed[i])
		t.Logf("line %s was on the screen %s after the host printed it", i, lag.Round(time.Millisecond))
		if lag > 500*time.Millisecond {
			t.Errorf("line %s showed %s after the host printed it, more than 0.5 s:\n%s", i, lag.Round(time.Millisecond), tm.screen())
		}
	}
}
