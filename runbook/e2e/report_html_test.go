package e2e

import (
	"bytes"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// chromiumFlags keep headless Chromium from its background services and
// from any stale profile.
var chromiumFlags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
	"--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
}

// TestReportHTMLInChromium runs scripts/report-screenshot.sh (what `make
// report-screenshot` runs) with the binary under test, then checks that
// the page references nothing outside itself, that Chromium loading it
// asks the network for nothing, and that the screenshot shows the
// timeline's bars.
func TestReportHTMLInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (apt-get install chromium)")
	}
	out := t.TempDir()
	script := filepath.Join(repoRoot(t), "scripts", "report-screenshot.sh")
	cmd := exec.Command(script, bin, out)
	cmd.Env = env("CHROMIUM=" + chromium)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, b)
	}
	page := read(t, filepath.Join(out, "report.html"))

	t.Run("references nothing outside the page", func(t *testing.T) {
		for _, ref := range externalRefs(page) {
			t.Errorf("the page loads %s", ref)
		}
	})

	t.Run("asks the network for nothing", func(t *testing.T) {
		reqs, dom := loadThroughProxy(t, chromium, filepath.Join(out, "report.html"))
		for _, r := range reqs {
			t.Errorf("loading the page made a request: %s", r)
		}
		if !strings.Contains(dom, "<svg") || strings.Count(dom, `class="bar ok"`) < 9 {
			t.Errorf("the loaded page has no timeline:\n%.2000s", dom)
		}
	})

	t.Run("the screenshot shows the timeline", func(t *testing.T) {
		f, err := os.Open(filepath.Join(out, "report.png"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		img, err := png.Decode(f)
		if err != nil {
			t.Fatalf("report.png: %v", err)
		}
		if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 1600 {
			t.Errorf("screenshot is %v, want 1280x1600", b)
		}
		// The example night is 13 host runs and one confirm step, all
		// succeeded: as many solid green bars, one under the other.
		if n := greenBars(img); n < 9 {
			t.Errorf("the screenshot shows %d timeline bars, want at least 9", n)
		}
	})
}

func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test source")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

var (
	attrRef  = regexp.MustCompile(`(?i)\b(?:src|href|xlink:href|action|formaction|poster|data|srcset|background)\s*=\s*["']?([^"'\s>]*)`)
	cssRef   = regexp.MustCompile(`(?i)url\(\s*['"]?([^'")\s]*)`)
	imported = regexp.MustCompile(`(?i)@import`)
)

// externalRefs lists every reference in the page that is not to the page
// itself (#fragment) or inline (data:).
func externalRefs(page string) []string {
	var out []string
	for _, re := range []*regexp.Regexp{attrRef, cssRef} {
		for _, m := range re.FindAllStringSubmatch(page, -1) {
			if !strings.HasPrefix(m[1], "#") && !strings.HasPrefix(m[1], "data:") {
				out = append(out, m[0])
			}
		}
	}
	if imported.MatchString(page) {
		out = append(out, "@import")
	}
	return out
}

// loadThroughProxy loads the page in Chromium with every request sent to
// a proxy on 127.0.0.1 that refuses them all and writes them down, and
// returns those the page made, with the DOM after loading.
//
// Chromium's own services (time, updates, accounts) call Google even with
// the flags that should stop them; those hosts are left out, which loses
// nothing because externalRefs would flag any reference the page made to
// them, and the test checks the page never names Google at all.
func loadThroughProxy(t *testing.T, chromium, page string) ([]string, string) {
	t.Helper()
	var (
		mu   sync.Mutex
		reqs []string
	)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, ok := strings.Cut(host, ":"); ok {
			host = h
		}
		if !chromiumService(host) {
			mu.Lock()
			reqs = append(reqs, r.Method+" "+r.URL.String())
			mu.Unlock()
		}
		http.Error(w, "no network in this test", http.StatusForbidden)
	}))
	defer proxy.Close()
	if strings.Contains(strings.ToLower(read(t, page)), "google") {
		t.Error("the page names a Google host, which this check cannot tell from Chromium's own calls")
	}
	args := append(append([]string{}, chromiumFlags...),
		"--user-data-dir="+t.TempDir(),
		"--proxy-server="+proxy.URL, "--proxy-bypass-list=<-loopback>",
		"--dump-dom", "file://"+page)
	var dom, errb bytes.Buffer
	cmd := exec.Command(chromium, args...)
	cmd.Stdout, cmd.Stderr = &dom, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium --dump-dom: %v\n%s", err, errb.String())
	}
	mu.Lock()
	defer mu.Unlock()
	return append([]string(nil), reqs...), dom.String()
}

func chromiumService(host string) bool {
	for _, suffix := range []string{".google.com", ".googleapis.com", ".gvt1.com", ".gstatic.com"} {
		if strings.HasSuffix(host, suffix) {
			return true
		}
	}
	return false
}

// greenBars counts the solid blocks of the report's "ok" green that are
// taller than any other green shape on the page (the legend swatch is 10
// pixels, borders 1 to 4): timeline bars, 12 units high.
func greenBars(img image.Image) int {
	b := img.Bounds()
	green := func(x, y int) bool {
		r, g, bl, _ := img.At(x, y).RGBA()
		return near(r>>8, 0x1b) && near(g>>8, 0x7f) && near(bl>>8, 0x3b)
	}
	solid := func(x, y int) bool {
		for dy := 0; dy < 11; dy++ {
			for dx := 0; dx < 3; dx++ {
				if x+dx >= b.Max.X || y+dy >= b.Max.Y || !green(x+dx, y+dy) {
					return false
				}
			}
		}
		return true
	}
	bars, lastY := 0, -100
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if solid(x, y) {
				if y-lastY > 14 {
					bars++
				}
				lastY = y
				break
			}
		}
	}
	return bars
}

func near(v, want uint32) bool { return v+24 >= want && v <= want+24 }
