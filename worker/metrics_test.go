package worker

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestWorkerMetricsCountTheRun runs a worker with Metrics through a small
// job and reads its /metrics with Prometheus's parser and linter: the
// counts equal the worker's Stats, and the names follow Prometheus's rules.
func TestWorkerMetricsCountTheRun(t *testing.T) {
	spec := smallSpec(3, 2)
	url, _, _ := cluster(t, spec)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m := NewMetrics()
	st, err := Run(ctx, Config{Job: spec.ID, NATS: url, Name: "mw", Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, body)
	}
	value := func(name string) float64 {
		f, ok := fams[name]
		if !ok || len(f.GetMetric()) != 1 {
			t.Fatalf("%s missing or not one series:\n%s", name, body)
		}
		mt := f.GetMetric()[0]
		labels := map[string]string{}
		for _, l := range mt.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["fsl_job"] != spec.ID || !strings.HasPrefix(labels["worker"], "mw-") {
			t.Errorf("%s labels %v, want fsl_job %s and the worker's ID", name, labels, spec.ID)
		}
		if mt.Counter != nil {
			return mt.Counter.GetValue()
		}
		return mt.Gauge.GetValue()
	}
	for name, want := range map[string]float64{
		"fsl_worker_shards_computed_total": float64(st.Shards),
		"fsl_worker_params_fetched_total":  float64(st.ParamsFetched),
		"fsl_worker_leases_stale_total":    float64(st.Stale),
		"fsl_worker_params_version":        float64(spec.Steps - 1),
		"fsl_worker_busy":                  0,
		"fsl_build_info":                   1,
	} {
		if got := value(name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if st.Shards != spec.Steps*spec.Shards {
		t.Errorf("worker computed %d shards, want %d", st.Shards, spec.Steps*spec.Shards)
	}
	if s := value("fsl_worker_compute_seconds_total"); s <= 0 {
		t.Errorf("compute seconds %v, want > 0", s)
	}
	if n := value("fsl_worker_work_requests_total"); n < float64(st.Shards) {
		t.Errorf("%v work requests for %d shards", n, st.Shards)
	}
	if class := fams["fsl_build_info"].GetMetric()[0]; !strings.Contains(class.String(), "cpu ") {
		t.Errorf("fsl_build_info has no CPU compute class: %v", class)
	}
	problems, err := promlint.New(strings.NewReader(string(body))).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

func TestWorkerMetricsEscapeLabels(t *testing.T) {
	m := NewMetrics()
	m.identify("j", "a\"b\\c\nd")
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range fams["fsl_worker_busy"].GetMetric()[0].GetLabel() {
		if l.GetName() == "worker" && l.GetValue() != "a\"b\\c\nd" {
			t.Errorf("worker label read back as %q", l.GetValue())
		}
	}
	if v := fams["fsl_worker_params_version"].GetMetric()[0].GetGauge().GetValue(); v != -1 {
		t.Errorf("params version before any fetch = %v, want -1", v)
	}
}
