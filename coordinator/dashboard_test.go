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
	"github.com/fsl-project/fsl/coordinator/machine"
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
	etaRE        = regexp.MustCompile(`<span id="eta" data-seconds="([^"]*)">([^<]*)</span>`)
	ckptRowRE    = regexp.MustCompile(`<tr data-step="(\d+)" data-best="(true|false)"[^>]*>(.*?)</tr>`)
	titleRE      = regexp.MustCompile(`<title>([^<]*)</title>`)
	evalRowRE    = regexp.MustCompile(`<table id="evaluation-table">.*?<tbody>(.*?)</tbody>`)
	pinnedRE     = regexp.MustCompile(`<div id="pinned" class="pinned">([^<]*)</div>`)
	ticksRE      = regexp.MustCompile(`<canvas id="([a-z]+-chart)"[^>]*data-y-ticks="([^"]*)" data-x-ticks="([^"]*)"`)
	tickLabelRE  = regexp.MustCompile(`^-?[0-9][0-9,]*(\.[0-9]*[1-9])?$`)
)

// checkTicks checks the axis labels every chart drew: numbers without
// trailing zeros (3, not 3.000; 0.5, not 0.50), integer steps on x.
func checkTicks(t *testing.T, dom string) {
	t.Helper()
	charts := ticksRE.FindAllStringSubmatch(dom, -1)
	if len(charts) != 3 {
		t.Fatalf("%d charts with axis labels, want 3:\n%s", len(charts), dom)
	}
	for _, c := range charts {
		ys, xs := strings.Fields(c[2]), strings.Fields(c[3])
		if len(ys) < 2 || len(xs) < 2 {
			t.Errorf("%s: y labels %q, x labels %q: too few", c[1], c[2], c[3])
		}
		for _, l := range ys {
			if !tickLabelRE.MatchString(l) {
				t.Errorf("%s: y label %q is not a plain number without trailing zeros", c[1], l)
			}
		}
		for _, l := range xs {
			if _, err := strconv.Atoi(strings.ReplaceAll(l, ",", "")); err != nil {
				t.Errorf("%s: x label %q is not a step", c[1], l)
			}
		}
	}
}

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

// loadDashboard loads url in headless chromium and returns the page's
// DOM after its polls, failing on console messages and script errors.
func loadDashboard(t *testing.T, bin, url string) string {
	t.Helper()
	dom, console := runChromium(t, bin, url, "--dump-dom")
	if len(console) > 0 {
		t.Errorf("console messages while loading the dashboard:\n%s", strings.Join(console, "\n"))
	}
	if m := errorsRE.FindStringSubmatch(dom); m == nil || m[1] != "" {
		t.Errorf("script errors recorded by the page: %v", m)
	}
	if polls := attrInt(t, pollsRE, dom, "body data-polls"); polls < 1 {
		t.Fatalf("the page never completed a poll of /status and /history:\n%s", dom)
	}
	return dom
}

// checkDashboard loads the dashboard of a finished run, resumed by a second
// coordinator, in headless chromium: no console or script errors, every
// chart plotted from the whole run's history (the first coordinator's
// steps restored from the store), the checkpoint list with its metrics and
// best, the ETA of a finished job, the workers table filled in; and saves
// a screenshot.
func checkDashboard(t *testing.T, r *monitoredRun) {
	bin := chromium(t)
	dom := loadDashboard(t, bin, r.url+"/")
	checkTicks(t, dom)
	if m := titleRE.FindStringSubmatch(dom); m == nil || m[1] != r.spec.ID+" · fsl dashboard" {
		t.Errorf("page title %v, want %q", m, r.spec.ID+" · fsl dashboard")
	}
	if m := etaRE.FindStringSubmatch(dom); m == nil || m[1] != "0" || m[2] != "done" {
		t.Errorf("ETA of a finished job: %v, want done", m)
	}
	rows := ckptRowRE.FindAllStringSubmatch(dom, -1)
	var steps []string
	bests := 0
	for _, row := range rows {
		steps = append(steps, row[1])
		if row[2] == "true" {
			bests++
			if !strings.Contains(row[3], "★ best") {
				t.Errorf("best checkpoint row %s is not marked: %s", row[1], row[3])
			}
		}
		if !strings.Contains(row[3], " ± ") {
			t.Errorf("checkpoint row %s shows no validation accuracy ± CI: %s", row[1], row[3])
		}
	}
	if strings.Join(steps, " ") != "9 6 3" || bests != 1 {
		t.Errorf("checkpoint list: steps %v with %d best, want 9 6 3 (newest first) with one best", steps, bests)
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
	screenshot(t, bin, r.url+"/", filepath.Join(dir, "dashboard.png"))
}

// screenshot saves a PNG of url at path.
func screenshot(t *testing.T, bin, url, path string) {
	t.Helper()
	runChromium(t, bin, url, "--screenshot="+path, "--window-size=1280,1400")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot %s is not a PNG", path)
	}
	t.Logf("dashboard screenshot: %s (%d bytes)", path, len(b))
}

// TestDashboardETAAndEvaluation serves a running job of known pace (one
// step a second, step 50 of 120) and a final evaluation: the page's ETA
// must be the 70 steps left at that pace, and the evaluation table filled.
func TestDashboardETAAndEvaluation(t *testing.T) {
	bin := chromium(t)
	mon := coordinator.NewMonitor("pace", coordinator.WithoutRuntimeMetrics())
	mon.Attach(func() coordinator.JobStatus {
		return coordinator.JobStatus{Job: "pace", Step: 50, Steps: 120, Loss: 0.5, Images: 5000, Elapsed: 50,
			Status: machine.Status{Phase: machine.PhaseRunning}}
	})
	for s := 1; s <= 50; s++ {
		mon.Validated(s, map[string]float64{"val_acc": 0.5 + float64(s)/200, "val_ci95": 0.02})
		mon.StepApplied(coordinator.Progress{Step: s, Steps: 120, Loss: 2 / float64(s), Images: 100 * s, Elapsed: time.Duration(s) * time.Second})
	}
	mon.SetEvaluation([]coordinator.Evaluation{{Protocol: "5-way 1-shot, 600 episodes, held-out classes", Step: 50, Accuracy: 0.9123, CI95: 0.0111}})
	hs, err := coordinator.ListenHTTP("127.0.0.1:0", mon.Handler(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer hs.Shutdown(context.Background()) //nolint:errcheck // test ends

	dom := loadDashboard(t, bin, hs.URL()+"/#step=25")
	checkTicks(t, dom)
	// The pinned step (as a click on a chart sets it) reads every chart's
	// values there: what the hover tooltip shows.
	if m := pinnedRE.FindStringSubmatch(dom); m == nil || !strings.HasPrefix(m[1], "pinned step 25 · ") ||
		!strings.Contains(m[1], "val_acc: 0.625 ± 0.02") || !strings.Contains(m[1], "images/s: 100") {
		t.Errorf("pinned readout %v, want step 25 with val_acc 0.625 ± 0.02 and 100 images/s", m)
	}
	if m := etaRE.FindStringSubmatch(dom); m == nil || m[1] != "70" || m[2] != "1 min 10 s" {
		t.Errorf("ETA %v, want 70 steps at one a second: 1 min 10 s", m)
	}
	m := evalRowRE.FindStringSubmatch(dom)
	if m == nil || !strings.Contains(m[1], "5-way 1-shot, 600 episodes") || !strings.Contains(m[1], "0.9123 ± 0.0111") {
		t.Errorf("evaluation table: %v", m)
	}
	if n := attrInt(t, valPointsRE, dom, "validation chart points"); n != 50 {
		t.Errorf("validation chart has %d points, want 50", n)
	}
	for _, bad := range []string{">3.000<", ">0.500<", "fsl fsl"} {
		if strings.Contains(dom, bad) {
			t.Errorf("the page shows %q", bad)
		}
	}

	// Zoomed to steps 10..20 (what a drag across a chart sets): every chart
	// draws those 11 steps only.
	dom = loadDashboard(t, bin, hs.URL()+"/#step=15&from=10&to=20")
	checkTicks(t, dom)
	for _, re := range []*regexp.Regexp{lossPointsRE, valPointsRE, ratePointsRE} {
		if n := attrInt(t, re, dom, "zoomed chart points"); n != 11 {
			t.Errorf("%s: %d points zoomed to steps 10..20, want 11", re, n)
		}
	}
	for _, c := range ticksRE.FindAllStringSubmatch(dom, -1) {
		for _, l := range strings.Fields(c[3]) {
			if n, err := strconv.Atoi(l); err != nil || n < 10 || n > 20 {
				t.Errorf("%s: x label %q outside the zoom 10..20", c[1], l)
			}
		}
	}
	if m := pinnedRE.FindStringSubmatch(dom); m == nil || !strings.HasPrefix(m[1], "pinned step 15 · ") || !strings.Contains(m[1], "zoomed to steps 10–20") {
		t.Errorf("readout %v, want step 15 pinned and the zoom", m)
	}

	dir := os.Getenv("FSL_TEST_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	screenshot(t, bin, hs.URL()+"/#step=25", filepath.Join(dir, "dashboard-running.png"))
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
