package coordinator_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/fsl-project/fsl/checkpoints"
	"github.com/fsl-project/fsl/coordinator"
	"github.com/fsl-project/fsl/episodes"
	"github.com/fsl-project/fsl/eval"
	"github.com/fsl-project/fsl/model"
	"github.com/fsl-project/fsl/params"
	"github.com/fsl-project/fsl/wire/transport"
	"github.com/fsl-project/fsl/worker"
)

// TestPatienceStopsTheJobAndItStaysStopped: with patience 2 and a
// validation at every step whose val_acc peaks at step 2, the job stops
// at step 4 (two validations without a better one), records it, keeps the
// best checkpoint at step 2, and a rerun of the same job ends at once
// where it stopped.
func TestPatienceStopsTheJobAndItStaysStopped(t *testing.T) {
	spec := coordinator.JobSpec{ID: "patient", Size: 16, Way: 5, Shot: 1, Query: 1, Shards: 1, Steps: 10, Seed: 4,
		CheckpointEvery: 5, EvalEvery: 1, Patience: 2}.WithDefaults()
	acc := map[int]float64{1: 0.5, 2: 0.8, 3: 0.7, 4: 0.79, 5: 0.9}
	validate := func(v int, _, _ params.Vector) (map[string]float64, error) {
		return map[string]float64{"val_acc": acc[v]}, nil
	}
	srv, err := transport.StartServer(transport.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	db := filepath.Join(t.TempDir(), "fsl.db")
	run := func(withWorker bool) *coordinator.Summary {
		t.Helper()
		nc, err := transport.Connect(srv.ClientURL(), transport.ConnectOptions{Name: "coord"})
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		d, err := coordinator.NewDriver(coordinator.DriverConfig{Spec: spec, DB: db, Conn: nc, Validate: validate, Linger: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if withWorker {
			go func() {
				if _, err := worker.Run(ctx, worker.Config{Job: spec.ID, NATS: srv.ClientURL(), Name: "w"}); err != nil {
					t.Error(err)
				}
			}()
		}
		s, err := d.Run(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := run(true)
	if s.Version != 4 || !s.StoppedEarly {
		t.Fatalf("ended at version %d (stopped early %v), want 4, early", s.Version, s.StoppedEarly)
	}
	again := run(false) // no worker: it must not need one
	if again.Version != 4 || !again.StoppedEarly || again.ParamsSHA256 != s.ParamsSHA256 {
		t.Errorf("rerun ended at version %d (stopped early %v, params %s), want 4 and %s", again.Version, again.StoppedEarly, again.ParamsSHA256, s.ParamsSHA256)
	}
	st, err := checkpoints.Open(db, checkpoints.WithReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec, err := st.Job(spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	best, err := st.Best(spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	latest, err := st.Latest(spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.StoppedAt != 4 || rec.Status != checkpoints.StatusDone || best.Step != 2 || latest.Step != 4 {
		t.Errorf("record stopped at %d, status %s; best checkpoint %d, latest %d; want 4, done, 2, 4", rec.StoppedAt, rec.Status, best.Step, latest.Step)
	}
}

// TestEvaluationOnTheWorkersMeasuresTheBestCheckpoint: a validated job that
// patience stopped at step 4 is evaluated on its workers at its best
// checkpoint, step 2, whose parameters the workers are served: the figures
// equal an evaluation of that checkpoint in this process (0.523 here,
// against 0.530 for step 4's parameters).
func TestEvaluationOnTheWorkersMeasuresTheBestCheckpoint(t *testing.T) {
	spec := coordinator.JobSpec{ID: "best-eval", Size: 16, Way: 5, Shot: 1, Query: 1, Shards: 1, Steps: 10, Seed: 4,
		CheckpointEvery: 1, EvalEvery: 1, Patience: 2}.WithDefaults()
	acc := map[int]float64{1: 0.5, 2: 0.8, 3: 0.7, 4: 0.79}
	validate := func(v int, _, _ params.Vector) (map[string]float64, error) {
		return map[string]float64{"val_acc": acc[v]}, nil
	}
	test, err := episodes.Open(spec.Dataset, spec.SplitOptions(spec.TestSplit))
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(spec.ModelConfig())
	if err != nil {
		t.Fatal(err)
	}
	evalCfg := eval.EpisodeConfig{Way: 5, Shot: 1, Query: 2, Episodes: 30, Seed: 1}
	evaluated := -1
	evalWork := func(v int, p, st params.Vector) (coordinator.EvalWork, error) {
		evaluated = v
		return eval.NewWork(eval.Net{Model: m, Params: p, State: st}, test, []eval.EpisodeConfig{evalCfg})
	}
	db := filepath.Join(t.TempDir(), "fsl.db")
	srv, d := newTestDriverWith(t, coordinator.DriverConfig{Spec: spec, DB: db, Validate: validate, EvalWork: evalWork,
		Linger: 100 * time.Millisecond})
	s := runWithOneWorker(t, srv, d, spec.ID)
	if s.Version != 4 || evaluated != 2 {
		t.Fatalf("stopped at %d and evaluated version %d, want 4 and the best, 2", s.Version, evaluated)
	}
	st, err := checkpoints.Open(db, checkpoints.WithReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	best, err := st.Best(spec.ID)
	st.Close()
	if err != nil || best.Step != 2 {
		t.Fatalf("best checkpoint %v, %v: want step 2", best, err)
	}
	r, err := eval.Episodes(eval.Net{Model: m, Params: best.Params, State: best.State}, test, evalCfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Eval["5way1shot_acc"]; got != r.Mean || s.Eval["5way1shot_ci95"] != r.CI95 {
		t.Errorf("evaluated on the workers %v; the best checkpoint in this process %v ± %v", s.Eval, r.Mean, r.CI95)
	}
}
