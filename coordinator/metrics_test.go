package coordinator

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fsl-project/fsl/coordinator/machine"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// fetch GETs path from h and returns the status code and body.
func fetch(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	b, err := io.ReadAll(rec.Result().Body)
	if err != nil {
		t.Fatal(err)
	}
	return rec.Code, string(b)
}

// samples parses a /metrics body with Prometheus's text parser into
// "name" or "name{label=value}" (job label left out) -> value.
func samples(t *testing.T, body string) map[string]float64 {
	t.Helper()
	out, _ := ParseMetrics(t, body, "j1")
	return out
}

// ParseMetrics (exported to the external tests too) parses a /metrics body with Prometheus's text parser into
// "name" or "name{label=value,...}" (fsl_job label left out) -> value, and
// name -> metric type. Counters, gauges and histograms (as _count and _sum)
// are kept. Every fsl_ series must carry fsl_job, equal to job when job is
// set, and none may carry job (Prometheus's own target label).
func ParseMetrics(t *testing.T, body, job string) (map[string]float64, map[string]string) {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("metrics do not parse: %v\n%s", err, body)
	}
	out, types := map[string]float64{}, map[string]string{}
	for name, f := range fams {
		types[name] = f.GetType().String()
		for _, m := range f.GetMetric() {
			var labels []string
			hasJob := false
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case JobLabel:
					hasJob = true
					if job != "" && l.GetValue() != job {
						t.Errorf("%s has %s label %q, want %s", name, JobLabel, l.GetValue(), job)
					}
				case "job":
					t.Errorf("%s has a job label: it collides with Prometheus's target label", name)
				default:
					labels = append(labels, l.GetName()+"="+l.GetValue())
				}
			}
			if strings.HasPrefix(name, "fsl_") && !hasJob {
				t.Errorf("%s has no %s label", name, JobLabel)
			}
			key := name
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.Counter != nil:
				out[key] = m.Counter.GetValue()
			case m.Gauge != nil:
				out[key] = m.Gauge.GetValue()
			case m.Histogram != nil:
				out[key+"_count"] = float64(m.Histogram.GetSampleCount())
				out[key+"_sum"] = m.Histogram.GetSampleSum()
			}
		}
	}
	return out, types
}

func TestMetricsReadTheStatusAtEveryScrape(t *testing.T) {
	mon := NewMonitor("j1", WithoutRuntimeMetrics())
	h := mon.Handler()

	_, body := fetch(t, h, "/metrics")
	if got := samples(t, body); len(got) != 5 { // the two empty histograms and the build info
		t.Errorf("before Attach /metrics has %v, want only the histograms and fsl_build_info", got)
	}

	var cur atomic.Pointer[JobStatus]
	cur.Store(&JobStatus{Job: "j1", Step: 3, Steps: 10, Loss: 0.5, Images: 120, Status: machine.Status{
		Workers: []machine.WorkerStatus{{ID: "a", Tally: machine.WorkerTally{Leased: 4, Accepted: 3, Invalid: 1}},
			{ID: "b", Strikes: 3, QuarantinedUntil: t0.Add(time.Minute), Tally: machine.WorkerTally{Leased: 3, Expired: 3}}},
		Counters: machine.Counters{Leased: 7, Expired: 1, Duplicates: 2, Applied: 6, Invalid: map[machine.Reason]int{machine.ReasonNotFinite: 3, machine.ReasonStaleStep: 1}, Quarantines: 2, Refused: 5,
			LostRaces: 4, Checks: 9, Mismatches: 2, Bans: 1, Rollbacks: 1, StepsRolledBack: 3},
	}})
	mon.Attach(func() JobStatus { return *cur.Load() })
	mon.Checkpointed(3, 20*time.Millisecond)
	mon.Validated(3, map[string]float64{"val_acc": 0.75, "val_ci95": 0.05, "val_loss": 1.5})
	mon.StepApplied(Progress{Step: 2, Elapsed: time.Second})
	mon.StepApplied(Progress{Step: 3, Elapsed: 1500 * time.Millisecond})

	_, body = fetch(t, h, "/metrics")
	got := samples(t, body)
	want := map[string]float64{
		"fsl_step": 3, "fsl_steps": 10, "fsl_loss": 0.5, "fsl_images_total": 120, "fsl_workers": 2, "fsl_done": 0,
		"fsl_shards_leased_total": 7, "fsl_shards_expired_total": 1, "fsl_results_duplicate_total": 2,
		"fsl_results_applied_total": 6, "fsl_results_lost_race_total": 4,
		"fsl_verify_checks_total": 9, "fsl_verify_mismatches_total": 2, "fsl_verify_bans_total": 1,
		"fsl_verify_rollbacks_total": 1, "fsl_verify_steps_rolled_back_total": 3,
		"fsl_workers_quarantined": 1, "fsl_workers_quarantines_total": 2, "fsl_leases_refused_total": 5,
		"fsl_results_invalid_total{reason=non_finite_value}": 3,
		"fsl_results_invalid_total{reason=stale_step}":       1,
		"fsl_checkpoint_seconds_count":                       1, "fsl_checkpoint_seconds_sum": 0.02,
		"fsl_step_seconds_count": 1, "fsl_step_seconds_sum": 0.5,
		"fsl_validation_accuracy": 0.75, "fsl_validation_accuracy_ci95_half_width": 0.05,
		"fsl_validation_metric{metric=val_loss}": 1.5, "fsl_validation_step": 3,
		"fsl_worker_leases_total{worker=a}": 4, "fsl_worker_results_accepted_total{worker=a}": 3,
		"fsl_worker_results_invalid_total{worker=a}": 1, "fsl_worker_leases_expired_total{worker=a}": 0,
		"fsl_worker_leases_total{worker=b}": 3, "fsl_worker_leases_expired_total{worker=b}": 3,
		"fsl_worker_series_omitted": 0,
	}
	for k, w := range want {
		if g, ok := got[k]; !ok || math.Abs(g-w) > 1e-12 {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, w)
		}
	}

	// The next scrape sees the machine as it is then, not a cached copy.
	next := *cur.Load()
	next.Step, next.Done = 10, true
	next.Status.Counters.Leased = 30
	cur.Store(&next)
	_, body = fetch(t, h, "/metrics")
	got = samples(t, body)
	if got["fsl_step"] != 10 || got["fsl_done"] != 1 || got["fsl_shards_leased_total"] != 30 {
		t.Errorf("second scrape: step %v done %v leased %v, want 10 1 30", got["fsl_step"], got["fsl_done"], got["fsl_shards_leased_total"])
	}
}

func TestMonitorEndpointsBeforeAndAfterAttach(t *testing.T) {
	mon := NewMonitor("j1")
	h := mon.Handler()
	cases := []struct {
		path     string
		code     int
		contains string
	}{
		{"/healthz", 200, "ok"},
		{"/readyz", 503, "starting"},
		{"/status", 503, `"error"`},
		{"/history", 200, `"steps":[]`},
		{"/", 200, `id="loss-chart"`},
		{"/dashboard/app.js", 200, "drawChart"},
		{"/dashboard/style.css", 200, "canvas"},
		{"/metrics", 200, "go_goroutines"},
		{"/debug/pprof/", 404, ""}, // only WithPprof
		{"/nope", 404, ""},
	}
	for _, c := range cases {
		code, body := fetch(t, h, c.path)
		if code != c.code || !strings.Contains(body, c.contains) {
			t.Errorf("GET %s before Attach = %d %.80q, want %d containing %q", c.path, code, body, c.code, c.contains)
		}
	}
	mon.Attach(func() JobStatus { return JobStatus{Job: "j1", Step: 2, Steps: 5} })
	if code, body := fetch(t, h, "/readyz"); code != 200 {
		t.Errorf("GET /readyz after Attach = %d %q", code, body)
	}
	code, body := fetch(t, h, "/status")
	var st JobStatus
	if err := json.Unmarshal([]byte(body), &st); code != 200 || err != nil || st.Step != 2 || st.Steps != 5 {
		t.Errorf("GET /status after Attach = %d %q (%v)", code, body, err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/status", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /status = %d, want 405", rec.Code)
	}
}

func TestPprofOnlyWithPprof(t *testing.T) {
	for _, c := range []struct {
		opts []MonitorOption
		code int
	}{{nil, 404}, {[]MonitorOption{WithPprof()}, 200}} {
		h := NewMonitor("j1", c.opts...).Handler()
		for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap?debug=1"} {
			if code, body := fetch(t, h, path); code != c.code {
				t.Errorf("GET %s with %d options = %d %.80q, want %d", path, len(c.opts), code, body, c.code)
			}
		}
	}
}

func TestBearerTokenGuardsAllButMetricsAndProbes(t *testing.T) {
	mon := NewMonitor("j1", WithBearerToken("s3cret"), WithPprof(), WithoutRuntimeMetrics())
	mon.Attach(func() JobStatus { return JobStatus{Job: "j1"} })
	h := mon.Handler()
	get := func(path, auth string) int {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	for _, path := range []string{"/metrics", "/healthz", "/readyz"} {
		if code := get(path, ""); code != 200 {
			t.Errorf("GET %s without a token = %d, want 200 (Prometheus and probes have none)", path, code)
		}
	}
	for _, path := range []string{"/status", "/history", "/", "/dashboard/app.js", "/debug/pprof/"} {
		for _, auth := range []string{"", "Bearer wrong", "s3cret", "Basic czNjcmV0"} {
			if code := get(path, auth); code != 401 {
				t.Errorf("GET %s with Authorization %q = %d, want 401", path, auth, code)
			}
		}
		if code := get(path, "Bearer s3cret"); code != 200 {
			t.Errorf("GET %s with the token = %d, want 200", path, code)
		}
	}
}

func TestNonFiniteValuesAreServedAsValidJSON(t *testing.T) {
	mon := NewMonitor("j1", WithoutRuntimeMetrics())
	mon.Attach(func() JobStatus {
		return JobStatus{Job: "j1", Loss: math.NaN(), Validation: map[string]float64{"val_acc": math.Inf(1), "loss": 0.25}}
	})
	mon.StepApplied(Progress{Step: 1, Loss: math.NaN(), Images: 10, Elapsed: time.Second})
	mon.Validated(1, map[string]float64{"val_acc": math.NaN(), "val_loss": 1})
	h := mon.Handler()
	for _, path := range []string{"/status", "/history"} {
		code, body := fetch(t, h, path)
		var v map[string]any
		if err := json.Unmarshal([]byte(body), &v); code != 200 || err != nil {
			t.Errorf("GET %s = %d %q (%v), want valid JSON", path, code, body, err)
		}
		if !strings.Contains(body, `"loss":null`) || strings.Contains(body, "val_acc") {
			t.Errorf("GET %s = %s: want the NaN loss as null and the non-finite val_acc left out", path, body)
		}
	}
	if _, body := fetch(t, h, "/metrics"); !strings.Contains(body, "fsl_loss") {
		t.Errorf("/metrics lacks fsl_loss with a NaN loss:\n%s", body)
	} else {
		samples(t, body) // NaN is valid in the text format
	}
}

func TestHistoryStaysBoundedAndSpansTheWholeRun(t *testing.T) {
	h := NewHistory(8)
	for s := 1; s <= 1000; s++ {
		h.StepApplied(Progress{Step: s, Loss: 1 / float64(s), Images: 10 * s, Elapsed: time.Duration(s) * 100 * time.Millisecond})
		if s%10 == 0 {
			h.Checkpointed(s, time.Millisecond)
			h.Validated(s, map[string]float64{"val_acc": 0.5})
		}
		snap := h.Snapshot()
		if len(snap.Steps) > 9 || len(snap.Checkpoints) > 8 || len(snap.Validation) > 8 {
			t.Fatalf("after step %d: %d step, %d checkpoint, %d validation points; limit 8 (+ newest step)",
				s, len(snap.Steps), len(snap.Checkpoints), len(snap.Validation))
		}
		if snap.Steps[0].Step != 1 || snap.Steps[len(snap.Steps)-1].Step != s {
			t.Fatalf("after step %d the series spans steps %d..%d, want 1..%d", s, snap.Steps[0].Step, snap.Steps[len(snap.Steps)-1].Step, s)
		}
		for i := 1; i < len(snap.Steps); i++ {
			if snap.Steps[i].Step <= snap.Steps[i-1].Step {
				t.Fatalf("after step %d the steps are not increasing: %+v", s, snap.Steps)
			}
		}
	}
	if s := h.Snapshot().Stride; s < 128 || s&(s-1) != 0 {
		t.Errorf("stride %d after 1000 steps in 8 points, want a power of two >= 128", s)
	}
}

func TestHistoryThroughputFollowsTheImageRate(t *testing.T) {
	h := NewHistory(0)
	// 50 images every 100 ms: 500 images/s, then 250 images/s.
	images, el := 0, time.Duration(0)
	for s := 1; s <= 100; s++ {
		step := 100 * time.Millisecond
		if s > 50 {
			step = 200 * time.Millisecond
		}
		images += 50
		el += step
		h.StepApplied(Progress{Step: s, Images: images, Elapsed: el})
		if s == 50 || s == 100 {
			want := 500.0
			if s == 100 {
				want = 250
			}
			got := h.Snapshot().Steps[s-1].ImagesPerSecond
			if math.Abs(got-want)/want > 0.01 {
				t.Errorf("after step %d: %.1f images/s, want %.0f", s, got, want)
			}
		}
	}
}

func TestListenHTTPNamesTheAddressItCannotUse(t *testing.T) {
	_, err := ListenHTTP("127.0.0.1:notaport", http.NotFoundHandler(), nil)
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:notaport") {
		t.Fatalf("ListenHTTP(bad port) = %v, want an error naming the address", err)
	}
}

func BenchmarkMetricsScrape(b *testing.B) {
	mon := NewMonitor("j1", WithoutRuntimeMetrics())
	st := JobStatus{Job: "j1", Step: 3, Steps: 10, Status: machine.Status{Workers: make([]machine.WorkerStatus, 16),
		Counters: machine.Counters{Invalid: map[machine.Reason]int{machine.ReasonNotFinite: 1}}}}
	mon.Attach(func() JobStatus { return st })
	h := mon.Handler()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}

// BenchmarkMonitorStepApplied is the cost the monitor adds to the driver's
// goroutine per step (metrics and a history bounded to its default size).
func BenchmarkMonitorStepApplied(b *testing.B) {
	mon := NewMonitor("j1", WithoutRuntimeMetrics())
	b.ReportAllocs()
	s := 0
	for b.Loop() {
		s++
		mon.StepApplied(Progress{Step: s, Loss: 1, Images: 30 * s, Elapsed: time.Duration(s) * time.Millisecond})
	}
}

// TestMetricsFollowPrometheusNamingRules lints a full /metrics (every
// family this package exports, the Go runtime's too) with promlint, the
// linter behind `promtool check metrics`: counters end in _total, units are
// base units spelled out, no name ends in a type, names and labels are
// snake_case, every family has help.
func TestMetricsFollowPrometheusNamingRules(t *testing.T) {
	mon := NewMonitor("j1")
	mon.Attach(func() JobStatus {
		return JobStatus{Job: "j1", Step: 3, Steps: 10, Loss: 0.5, Images: 120, Validation: map[string]float64{"val_acc": 0.5},
			ComputeClass: "cpu amd64 kernels=avx2 blas=go/none", Status: machine.Status{
				Workers:  []machine.WorkerStatus{{ID: "a", Tally: machine.WorkerTally{Leased: 1}}},
				Counters: machine.Counters{Leased: 7, Invalid: map[machine.Reason]int{machine.ReasonNotFinite: 3}},
			}}
	})
	mon.Checkpointed(3, 20*time.Millisecond)
	mon.Validated(3, map[string]float64{"val_acc": 0.75, "val_ci95": 0.05, "val_loss": 1.5})
	mon.StepApplied(Progress{Step: 2, Elapsed: time.Second})
	mon.StepApplied(Progress{Step: 3, Elapsed: 2 * time.Second})
	code, body := fetch(t, mon.Handler(), "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: HTTP %d", code)
	}
	for _, fam := range []string{"fsl_build_info", "fsl_validation_accuracy", "fsl_validation_accuracy_ci95_half_width",
		"fsl_worker_leases_total", "fsl_results_invalid_total", "fsl_step_seconds", "go_goroutines"} {
		if !strings.Contains(body, "# TYPE "+fam+" ") {
			t.Errorf("/metrics lacks %s: nothing of it was linted", fam)
		}
	}
	problems, err := promlint.New(strings.NewReader(body)).Lint()
	if err != nil {
		t.Fatalf("promlint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

func TestWorkerSeriesAreCapped(t *testing.T) {
	ws := []machine.WorkerStatus{
		{ID: "old", LastSeen: t0}, {ID: "new", LastSeen: t0.Add(2 * time.Second)},
		{ID: "mid-b", LastSeen: t0.Add(time.Second)}, {ID: "mid-a", LastSeen: t0.Add(time.Second)},
	}
	for _, tc := range []struct {
		n       int
		want    string
		omitted int
	}{
		{8, "old new mid-b mid-a", 0},
		{4, "old new mid-b mid-a", 0},
		{3, "new mid-a mid-b", 1},
		{1, "new", 3},
	} {
		got, omitted := capWorkers(ws, tc.n)
		var ids []string
		for _, w := range got {
			ids = append(ids, w.ID)
		}
		if strings.Join(ids, " ") != tc.want || omitted != tc.omitted {
			t.Errorf("cap %d: %v, %d omitted; want %s, %d", tc.n, ids, omitted, tc.want, tc.omitted)
		}
	}
	mon := NewMonitor("j1", WithoutRuntimeMetrics(), WithMaxWorkerSeries(2))
	mon.Attach(func() JobStatus { return JobStatus{Job: "j1", Status: machine.Status{Workers: ws}} })
	_, body := fetch(t, mon.Handler(), "/metrics")
	got := samples(t, body)
	if got["fsl_worker_series_omitted"] != 2 || strings.Count(body, "fsl_worker_leases_total{") != 2 {
		t.Errorf("cap 2 of 4 workers: omitted %v, %d series:\n%s", got["fsl_worker_series_omitted"], strings.Count(body, "fsl_worker_leases_total{"), body)
	}
}

func TestBuildInfoNamesTheGoVersion(t *testing.T) {
	b := ReadBuildInfo()
	if b.GoVersion != runtime.Version() || b.Version == "" || b.Revision == "" {
		t.Errorf("build info %+v: want go version %s and a version and revision (or unknown)", b, runtime.Version())
	}
	mon := NewMonitor("j1", WithoutRuntimeMetrics())
	_, body := fetch(t, mon.Handler(), "/metrics")
	want := `fsl_build_info{compute_class="",fsl_job="j1",goversion="` + runtime.Version() + `",revision="` + b.Revision + `",version="` + b.Version + `"} 1`
	if !strings.Contains(body, want) {
		t.Errorf("/metrics lacks %s:\n%s", want, body)
	}
}

// TestMetricsSetServesEveryJobOnce: a serving coordinator's /metrics holds
// each job's series under its own fsl_job label and the runtime's once,
// and passes promlint.
func TestMetricsSetServesEveryJobOnce(t *testing.T) {
	set := NewMetricsSet()
	for i, job := range []string{"a", "b"} {
		mon := NewMonitor(job, WithoutRuntimeMetrics())
		step := 3 + i
		mon.Attach(func() JobStatus { return JobStatus{Job: job, Step: step, Steps: 10} })
		if err := set.Add(mon); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			if err := set.Add(mon); err == nil {
				t.Error("one job's metrics added twice")
			}
		}
	}
	code, body := fetch(t, set.Handler(), "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: HTTP %d", code)
	}
	for _, want := range []string{`fsl_step{fsl_job="a"} 3`, `fsl_step{fsl_job="b"} 4`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if n := strings.Count(body, "# TYPE go_goroutines "); n != 1 {
		t.Errorf("go_goroutines described %d times, want once", n)
	}
	if n := strings.Count(body, "\ngo_goroutines "); n != 1 {
		t.Errorf("%d go_goroutines samples, want one", n)
	}
	problems, err := promlint.New(strings.NewReader(body)).Lint()
	if err != nil {
		t.Fatalf("promlint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}
