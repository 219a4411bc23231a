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

	"github.com/fsl-project/fsl/checkpoints"
	"github.com/fsl-project/fsl/coordinator"
	"github.com/fsl-project/fsl/episodes"
	"github.com/fsl-project/fsl/eval"
	fslmodel "github.com/fsl-project/fsl/model"
	"github.com/fsl-project/fsl/params"
	"github.com/fsl-project/fsl/wire/transport"
	"github.com/fsl-project/fsl/worker"
)

// monitoredRun is a finished job whose monitor still serves HTTP. It was
// trained in two coordinator processes: the first to step resumedAt, the
// second, a new driver and monitor on the same store, to spec.Steps.
type monitoredRun struct {
	spec      coordinator.JobSpec
	sum       *coordinator.Summary
	status    coordinator.JobStatus
	mon       *coordinator.Monitor
	url       string
	workers   int
	resumedAt int
	db        string
}

// runMonitoredJob trains a small prototypical job on 16-pixel glyphs with
// one in-process worker, validating every 3 steps with real 5-way 1-shot
// episodes on held-out classes and recording its history in the store. It
// stops at step 6, then a second coordinator (a new driver, monitor and
// history recorder on the same store, as after a restart) resumes it to
// step 9 and serves its monitor over HTTP until the test ends.
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
		return map[string]float64{"val_acc": r.Mean, "val_ci95": r.CI95}, nil
	}

	srv, err := transport.StartServer(transport.ServerOptions{Port: 0})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	db := filepath.Join(t.TempDir(), "fsl.db")
	const resumeAt = 6
	train := func(spec coordinator.JobSpec, serve bool) (*coordinator.Monitor, *coordinator.HTTPServer, *coordinator.Driver, *coordinator.Summary) {
		nc, err := transport.Connect(srv.ClientURL(), transport.ConnectOptions{Name: "coord", Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		mon := coordinator.NewMonitor(spec.ID, coordinator.WithStore(db))
		var hs *coordinator.HTTPServer
		if serve {
			if hs, err = coordinator.ListenHTTP("127.0.0.1:0", mon.Handler(), log); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if err := hs.Shutdown(ctx); err != nil {
					t.Errorf("http shutdown: %v", err)
				}
			})
		}
		rec := coordinator.NewHistoryRecorder(db, spec.ID, 0, log)
		d, err := coordinator.NewDriver(coordinator.DriverConfig{
			Spec: spec, DB: db, Conn: nc, Logger: log,
			Observer: coordinator.Observers{mon, rec}, Validate: validate, Linger: 100 * time.Millisecond,
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
			t.Fatalf("run to step %d: %v", spec.Steps, err)
		}
		if err := rec.Close(); err != nil {
			t.Fatalf("history recorder: %v", err)
		}
		return mon, hs, d, sum
	}
	first := spec
	first.Steps = resumeAt
	train(first, false)
	mon, hs, d, sum := train(spec, true)
	if sum.ResumedFrom != resumeAt {
		t.Fatalf("second run resumed from step %d, want %d", sum.ResumedFrom, resumeAt)
	}
	return &monitoredRun{spec: spec, sum: sum, status: d.Status(), mon: mon, url: hs.URL(), workers: 1, resumedAt: resumeAt, db: db}
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
		// This process applied steps 7 to 9 and checkpointed step 9.
		"fsl_checkpoint_seconds_count": 1,
		"fsl_step_seconds_count":       float64(r.spec.Steps - r.resumedAt - 1),
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
	live := r.spec.Steps - r.resumedAt
	if c.Applied != live*r.spec.Shards {
		t.Errorf("applied %d results, want %d", c.Applied, live*r.spec.Shards)
	}
	if r.sum.Images != live*r.spec.ImagesPerStep() {
		t.Errorf("summary images %d, want %d", r.sum.Images, live*r.spec.ImagesPerStep())
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
	// Steps 1 to 6 come back from the store's history (the first
	// coordinator's), 7 to 9 are this process's.
	if len(h.Steps) != r.spec.Steps {
		t.Fatalf("/history has %d step points, want %d", len(h.Steps), r.spec.Steps)
	}
	for i, p := range h.Steps {
		restored := p.Step <= r.resumedAt
		images := 0
		if !restored {
			images = (p.Step - r.resumedAt) * r.spec.ImagesPerStep()
		}
		if p.Step != i+1 || p.Restored != restored || p.Images != images || p.ImagesPerSecond <= 0 || p.Time <= 0 {
			t.Errorf("step point %d = %+v", i, p)
		}
		if i > 0 && p.Time < h.Steps[i-1].Time {
			t.Errorf("step %d applied at %v, before step %d at %v", p.Step, p.Time, h.Steps[i-1].Step, h.Steps[i-1].Time)
		}
	}
	if last := h.Steps[len(h.Steps)-1]; last.Loss != r.sum.Loss {
		t.Errorf("last history loss %v, summary %v", last.Loss, r.sum.Loss)
	}
	var valSteps []int
	for _, v := range h.Validation {
		valSteps = append(valSteps, v.Step)
	}
	if fmt.Sprint(valSteps) != "[3 6 9]" || len(h.Checkpoints) != 1 {
		t.Errorf("validations at steps %v (want [3 6 9]), %d checkpoints written by this process (want 1)", valSteps, len(h.Checkpoints))
	}

	// The store's history, as fsl-coord history exports it: every step,
	// validation metrics at 3, 6 and 9.
	st2, err := checkpoints.Open(r.db, checkpoints.WithReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	recs, err := st2.History(r.spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	var withVal []uint64
	for i, rec := range recs {
		if rec.Step != uint64(i+1) {
			t.Errorf("stored history record %d is step %d", i, rec.Step)
		}
		if rec.Metrics["val_acc"] > 0 {
			withVal = append(withVal, rec.Step)
		}
	}
	if len(recs) != r.spec.Steps || fmt.Sprint(withVal) != "[3 6 9]" || recs[len(recs)-1].Loss != r.sum.Loss {
		t.Errorf("stored history: %d records, validations at %v, last loss %v; want %d, [3 6 9], %v",
			len(recs), withVal, recs[len(recs)-1].Loss, r.spec.Steps, r.sum.Loss)
	}

	// /checkpoints lists the store's checkpoints with their metrics.
	code, _, body = get(t, r.url+"/checkpoints")
	var list []coordinator.CheckpointInfo
	if err := json.Unmarshal(body, &list); code != http.StatusOK || err != nil {
		t.Fatalf("/checkpoints: HTTP %d, %v: %s", code, err, body)
	}
	var steps []uint64
	best := 0
	for _, c := range list {
		steps = append(steps, c.Step)
		if c.Best {
			best++
		}
		if _, ok := c.Metrics["val_acc"]; !ok {
			t.Errorf("checkpoint %d has no val_acc: %v", c.Step, c.Metrics)
		}
	}
	if fmt.Sprint(steps) != "[3 6 9]" || best != 1 {
		t.Errorf("/checkpoints: steps %v with %d best, want [3 6 9] with one", steps, best)
	}
}
