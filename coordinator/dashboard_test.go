package coordinator_test

import (
	"bytes"
	"context"
	"html"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fsl-project/fsl/coordinator"
)

// chromium finds a headless browser: $FSL_CHROMIUM, else chromium or
// chromium-browser on PATH. Without one the test skips, unless
// FSL_REQUIRE_CHROMIUM=1 (CI) makes that a failure.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("FSL_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("FSL_REQUIRE_CHROMIUM") == "1" {
		t.Fatal("chromium not found and FSL_REQUIRE_CHROMIUM=1 (Debian: apt-get install chromium)")
	}
	t.Skip("chromium not found: the dashboard is not checked in a browser (Debian: apt-get install chromium; FSL_REQUIRE_CHROMIUM=1 makes this a failure)")
	return ""
}

// runChromium loads url headless with extra flags and returns its stdout
// and the page's console messages (from chromium's stderr log).
func runChromium(t *testing.T, bin, url string, extra ...string) (stdout string, console []string) {
	t.Helper()
	args := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
		"--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--v=0",
		"--window-size=1280,1000", "--hide-scrollbars",
		// Virtual time runs the page's polling timers without waiting for
		// them in real time; fetches pause it until they complete.
		"--virtual-time-budget=4000",
	}
	args = append(append(args, extra...), url)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.WaitDelay = 5 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", bin, err, errb.String())
	}
	for _, line := range strings.Split(errb.String(), "\n") {
		if strings.Contains(line, ":CONSOLE") {
			console = append(console, line)
		}
	}
	return out.String(), console
}

var (
	lossPointsRE = regexp.MustCompile(`<canvas[^>]*id="loss-chart"[^>]*data-points="(\d+)"`)
	valPointsRE  = regexp.MustCompile(`<canvas[^>]*id="val-chart"[^>]*data-points="(\d+)"`)
	ratePointsRE = regexp.MustCompile(`<canvas[^>]*id="rate-chart"[^>]*data-points="(\d+)"`)
	pollsRE      = regexp.MustCompile(`<body[^>]*data-polls="(\d+)"`)
	errorsRE     = regexp.MustCompile(`<body[^>]*data-errors="([^"]*)"`)
)

func attrInt(t *testing.T, re *regexp.Regexp, dom, what string) int {
	t.Helper()
	m := re.FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("%s not found in the page's DOM:\n%s", what, dom)
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return n
}

// checkDashboard loads the dashboard of a finished run in headless
// chromium: no console or script errors, every chart plotted from the
// run's history, the workers table filled in; and saves a screenshot.
func checkDashboard(t *testing.T, r *monitoredRun) {
	bin := chromium(t)
	dom, console := runChromium(t, bin, r.url+"/", "--dump-dom")
	if len(console) > 0 {
		t.Errorf("console messages while loading the dashboard:\n%s", strings.Join(console, "\n"))
	}
	if m := errorsRE.FindStringSubmatch(dom); m == nil || m[1] != "" {
		t.Errorf("script errors recorded by the page: %v", m)
	}
	if polls := attrInt(t, pollsRE, dom, "body data-polls"); polls < 1 {
		t.Fatalf("the page never completed a poll of /status and /history:\n%s", dom)
	}
	if n := attrInt(t, lossPointsRE, dom, "loss chart points"); n != r.spec.Steps {
		t.Errorf("loss chart has %d points, want one per step (%d)", n, r.spec.Steps)
	}
	if n := attrInt(t, ratePointsRE, dom, "throughput chart points"); n != r.spec.Steps {
		t.Errorf("throughput chart has %d points, want %d", n, r.spec.Steps)
	}
	if n := attrInt(t, valPointsRE, dom, "validation chart points"); n != r.spec.Steps/r.spec.EvalEvery {
		t.Errorf("validation chart has %d points, want %d", n, r.spec.Steps/r.spec.EvalEvery)
	}
	for _, w := range r.status.Status.Workers {
		if !strings.Contains(dom, "<td>"+html.EscapeString(w.ID)+"</td>") {
			t.Errorf("worker %q is not in the workers table", w.ID)
		}
	}

	dir := os.Getenv("FSL_TEST_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "dashboard.png")
	runChromium(t, bin, r.url+"/", "--screenshot="+shot)
	b, err := os.ReadFile(shot)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot %s is not a PNG", shot)
	}
	t.Logf("dashboard screenshot: %s (%d bytes)", shot, len(b))
}

// TestDashboardNeedsNoNetwork: every asset is served from the binary, and
// none refers to another host (no CDN, no fonts, no analytics).
func TestDashboardNeedsNoNetwork(t *testing.T) {
	fsys := coordinator.DashboardFS()
	var files int
	err := fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		b, err := fs.ReadFile(fsys, path)
		if err != nil {
			return err
		}
		for _, bad := range []string{"http://", "https://", "//cdn", "@import"} {
			if bytes.Contains(b, []byte(bad)) {
				t.Errorf("%s refers to %q: the dashboard must need no network", path, bad)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 3 {
		t.Errorf("dashboard has %d files, want index.html, app.js and style.css", files)
	}
}
