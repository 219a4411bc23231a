package coordinator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fsl-project/fsl/coordinator"
	"github.com/fsl-project/fsl/episodes"
	"github.com/fsl-project/fsl/eval"
	fslmodel "github.com/fsl-project/fsl/model"
	"github.com/fsl-project/fsl/params"
	"github.com/fsl-project/fsl/wire"
	"github.com/fsl-project/fsl/worker"
)

// monitoredRun is a finished job whose monitor still serves HTTP.
type monitoredRun struct {
	spec    coordinator.JobSpec
	sum     *coordinator.Summary
	status  coordinator.JobStatus
	mon     *coordinator.Monitor
	url     string
	workers int
}

// runMonitoredJob trains a small prototypical job on 16-pixel glyphs with
// one in-process worker, validating every 3 steps with real 5-way 1-shot
// episodes on held-out classes, and serves its monitor over HTTP until the
// test ends.
func runMonitoredJob(t *testing.T) *monitoredRun {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	spec := coordinator.JobSpec{ID: "dash", Size: 16, Way: 5, Query: 2, Shards: 2, Steps: 9, CheckpointEvery: 3, EvalEvery: 3}.WithDefaults()
	test, err := episodes.Open(spec.Dataset, episodes.Options{Size: spec.Size, Split: episodes.SplitTest})
	if err != nil {
		t.Fatal(err)
	}
	net, err := fslmodel.New(spec.ModelConfig())
	if err != nil {
		t.Fatal(err)
	}
	validate := func(_ int, p, st params.Vector) (map[string]float64, error) {
		r, err := eval.Episodes(eval.Net{Model: net, Params: p, State: st}, test, eval.EpisodeConfig{Way: 5, Shot: 1, Query: 3, Episodes: 4, Seed: 1}, nil)
		if err != nil {
			return nil, err
		}
		return map[string]float64{"val_acc": r.Mean}, nil
	}

	srv, err := wire.StartServer(wire.ServerOptions{Port: 0})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := wire.Connect(srv.ClientURL(), wire.ConnectOptions{Name: "coord", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)

	mon := coordinator.NewMonitor(spec.ID)
	hs, err := coordinator.ListenHTTP("127.0.0.1:0", mon.Handler(), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := hs.Shutdown(ctx); err != nil {
			t.Errorf("http shutdown: %v", err)
		}
	})
	d, err := coordinator.NewDriver(coordinator.DriverConfig{
		Spec: spec, DB: filepath.Join(t.TempDir(), "fsl.db"), Conn: nc, Logger: log,
		Observer: mon, Validate: validate, Linger: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	mon.Attach(d.Status)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := worker.Run(ctx, worker.Config{Job: spec.ID, NATS: srv.ClientURL(), Name: "w0", GPU: -1, Logger: log}); err != nil {
			t.Errorf("worker: %v", err)
		}
	}()
	sum, err := d.Run(ctx)
	wg.Wait()
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return &monitoredRun{spec: spec, sum: sum, status: d.Status(), mon: mon, url: hs.URL(), workers: 1}
}

func get(t *testing.T, url string) (int, string, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

// scrape parses /metrics with Prometheus's own text parser and returns
// every sample as "name{labels}" -> value.
func scrape(t *testing.T, url string) (map[string]float64, map[string]string) {
	t.Helper()
	code, _, body := get(t, url+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: HTTP %d: %s", code, body)
	}
	return coordinator.ParseMetrics(t, string(body), "")
}

// TestMonitorOfAFinishedJob trains one small job and checks everything
// its monitor serves against the run: one run, as training is the slow part.
func TestMonitorOfAFinishedJob(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a small job (-short)")
	}
	r := runMonitoredJob(t)
	t.Run("metrics match the run", func(t *testing.T) { checkMetrics(t, r) })
	t.Run("status and history describe the run", func(t *testing.T) { checkStatusAndHistory(t, r) })
	t.Run("dashboard draws the run in headless chromium", func(t *testing.T) { checkDashboard(t, r) })
}

func checkMetrics(t *testing.T, r *monitoredRun) {
	got, types := scrape(t, r.url)
	c := r.sum.Counters
	want := map[string]float64{
		"fsl_step":                    float64(r.spec.Steps),
		"fsl_steps":                   float64(r.spec.Steps),
		"fsl_done":                    1,
		"fsl_loss":                    r.sum.Loss,
		"fsl_images_total":            float64(r.sum.Images),
		"fsl_workers":                 float64(len(r.status.Status.Workers)),
		"fsl_shards_leased_total":     float64(c.Leased),
		"fsl_shards_expired_total":    float64(c.Expired),
		"fsl_results_applied_total":   float64(c.Applied),
		"fsl_results_duplicate_total": float64(c.Duplicates),
		"fsl_workers_joined_total":    float64(c.WorkersJoined),
		// 9 steps, checkpoints every 3: steps 3, 6 and 9.
		"fsl_checkpoint_seconds_count": 3,
		"fsl_step_seconds_count":       float64(r.spec.Steps - 1),
		"fsl_validation_step":          float64(r.spec.Steps),
		"fsl_validation_accuracy":      r.status.Validation["val_acc"],
	}
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("%s missing from /metrics", name)
			continue
		}
		if g != w {
			t.Errorf("%s = %v, want %v", name, g, w)
		}
	}
	// The run itself: every shard applied once, the images are real.
	if c.Applied != r.spec.Steps*r.spec.Shards {
		t.Errorf("applied %d results, want %d", c.Applied, r.spec.Steps*r.spec.Shards)
	}
	if r.sum.Images != r.spec.Steps*r.spec.ImagesPerStep() {
		t.Errorf("summary images %d, want %d", r.sum.Images, r.spec.Steps*r.spec.ImagesPerStep())
	}
	for name, typ := range map[string]string{
		"fsl_images_total": "COUNTER", "fsl_shards_leased_total": "COUNTER", "fsl_step": "GAUGE",
		"fsl_checkpoint_seconds": "HISTOGRAM", "fsl_validation_accuracy": "GAUGE", "fsl_build_info": "GAUGE", "go_goroutines": "GAUGE",
	} {
		if types[name] != typ {
			t.Errorf("%s has type %q, want %s", name, types[name], typ)
		}
	}
	for _, w := range r.status.Status.Workers {
		if n := got["fsl_worker_results_accepted_total{worker="+w.ID+"}"]; n != float64(c.Applied) {
			t.Errorf("worker %s: %v results accepted in /metrics, want all %d", w.ID, n, c.Applied)
		}
	}
	if acc := got["fsl_validation_accuracy"]; acc <= 0 || acc > 1 {
		t.Errorf("val_acc %v is not an accuracy in (0, 1]", acc)
	}
}

func checkStatusAndHistory(t *testing.T, r *monitoredRun) {

	code, ctype, body := get(t, r.url+"/status")
	if code != http.StatusOK || ctype != "application/json" {
		t.Fatalf("/status: HTTP %d %q: %s", code, ctype, body)
	}
	var st coordinator.JobStatus
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("/status is not a JobStatus: %v\n%s", err, body)
	}
	if st.Job != r.spec.ID || st.Step != r.spec.Steps || !st.Done || st.Loss != r.sum.Loss || st.Images != r.sum.Images {
		t.Errorf("/status = job %q step %d done %v loss %v images %d; want %q %d true %v %d",
			st.Job, st.Step, st.Done, st.Loss, st.Images, r.spec.ID, r.spec.Steps, r.sum.Loss, r.sum.Images)
	}
	if len(st.Status.Workers) != r.workers || st.Status.Workers[0].ID == "" {
		t.Errorf("/status workers = %+v, want %d named worker", st.Status.Workers, r.workers)
	}

	code, _, body = get(t, r.url+"/history")
	if code != http.StatusOK {
		t.Fatalf("/history: HTTP %d: %s", code, body)
	}
	var h coordinator.HistorySnapshot
	if err := json.Unmarshal(body, &h); err != nil {
		t.Fatalf("/history: %v\n%s", err, body)
	}
	if len(h.Steps) != r.spec.Steps {
		t.Fatalf("/history has %d step points, want %d", len(h.Steps), r.spec.Steps)
	}
	for i, p := range h.Steps {
		if p.Step != i+1 || p.Images != (i+1)*r.spec.ImagesPerStep() || p.ImagesPerSecond <= 0 {
			t.Errorf("step point %d = %+v", i, p)
		}
	}
	if last := h.Steps[len(h.Steps)-1]; last.Loss != r.sum.Loss {
		t.Errorf("last history loss %v, summary %v", last.Loss, r.sum.Loss)
	}
	var valSteps []int
	for _, v := range h.Validation {
		valSteps = append(valSteps, v.Step)
	}
	if fmt.Sprint(valSteps) != "[3 6 9]" || len(h.Checkpoints) != 3 {
		t.Errorf("validations at steps %v (want [3 6 9]), %d checkpoints (want 3)", valSteps, len(h.Checkpoints))
	}
}
