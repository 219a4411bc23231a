package coordinator_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
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

// TestServerRunsAQueueOnPoolWorkers runs a serving coordinator in this
// process (so -race sees the server, its drivers and the pool workers
// together): three small jobs on two pool workers, one paused and resumed
// on the way and one pipelined (depth 1), each ending with RunLocal's
// parameters; mistakes in changes
// are errors that name the job.
func TestServerRunsAQueueOnPoolWorkers(t *testing.T) {
	srv, nc := coordinator.EmbeddedConn(t, transport.ConnectOptions{Name: "serve"})
	db := filepath.Join(t.TempDir(), "fsl.db")
	// Each job ends with an evaluation on the workers: 5-way 1-shot, 30
	// episodes of its test split.
	evalCfg := eval.EpisodeConfig{Way: 5, Shot: 1, Query: 2, Episodes: 30, Seed: 1}
	testSplit := func(spec coordinator.JobSpec) (*episodes.Dataset, *model.Model) {
		ds, err := episodes.Open(spec.Dataset, spec.SplitOptions(spec.TestSplit))
		if err != nil {
			t.Error(err)
		}
		m, err := model.New(spec.ModelConfig())
		if err != nil {
			t.Error(err)
		}
		return ds, m
	}
	evalWork := func(spec coordinator.JobSpec) func(int, params.Vector, params.Vector) (coordinator.EvalWork, error) {
		return func(_ int, p, st params.Vector) (coordinator.EvalWork, error) {
			ds, m := testSplit(spec)
			return eval.NewWork(eval.Net{Model: m, Params: p, State: st}, ds, []eval.EpisodeConfig{evalCfg})
		}
	}
	s, err := coordinator.NewServer(coordinator.ServerConfig{DB: db, Conn: nc, MaxRunning: 2, Quantum: 200 * time.Millisecond,
		Driver: coordinator.DriverConfig{Linger: 100 * time.Millisecond}, EvalWork: evalWork})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.Run(ctx); err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	var subs []coordinator.Submitted
	for i, seed := range []uint64{1, 2, 3} {
		spec := coordinator.JobSpec{ID: []string{"q-1", "q-2", "q-3"}[i], Size: 16, Way: 5, Shot: 1, Query: 1, Shards: 2, Steps: 12, Seed: seed,
			CheckpointEvery: 3, Pipeline: i % 2}.WithDefaults() // q-2 pipelined: its steps computed a version late
		subs = append(subs, coordinator.Submitted{Spec: spec, Name: "q"})
	}
	ids, err := s.Submit(subs)
	if err != nil || len(ids) != 3 {
		t.Fatalf("submit: %v %v", ids, err)
	}
	if _, err := s.Submit(subs[:1]); err == nil {
		t.Error("a job ID already queued was submitted again")
	}
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := worker.Run(ctx, worker.Config{NATS: srv.ClientURL(), Name: "pool"}); err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("pool worker: %v", err)
			}
		}()
	}
	state := func(id string) (coordinator.JobInfo, bool) {
		for _, j := range s.Jobs() {
			if j.ID == id {
				return j, true
			}
		}
		return coordinator.JobInfo{}, false
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Minute); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 2 minutes; jobs %+v", what, s.Jobs())
			}
		}
	}
	// q-3 waits in the queue (at most 2 run); pausing it there keeps it
	// from starting until it is resumed.
	if err := s.Change("pause", "q-3"); err != nil {
		t.Fatal(err)
	}
	waitFor("q-1 at step 3", func() bool { j, _ := state("q-1"); return j.Step >= 3 })
	if err := s.Change("pause", "q-1"); err != nil {
		t.Fatal(err)
	}
	waitFor("q-1 paused", func() bool { j, _ := state("q-1"); return j.State == coordinator.StatePaused })
	for _, tt := range []struct{ op, id string }{{"pause", "q-1"}, {"resume", "q-2"}, {"cancel", "nope"}, {"rm", "q-2"}} {
		if err := s.Change(tt.op, tt.id); err == nil {
			t.Errorf("%s %s: no error", tt.op, tt.id)
		}
	}
	if err := s.Change("resume", "q-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Change("resume", "q-3"); err != nil {
		t.Fatal(err)
	}
	waitFor("every job done", func() bool {
		for _, id := range ids {
			if j, _ := state(id); j.State != coordinator.StateDone {
				return false
			}
		}
		return true
	})
	for i, id := range ids {
		j, _ := state(id)
		m, err := model.New(subs[i].Spec.ModelConfig())
		if err != nil {
			t.Fatal(err)
		}
		ds, err := episodes.Open(subs[i].Spec.Dataset, subs[i].Spec.DatasetOptions())
		if err != nil {
			t.Fatal(err)
		}
		tr, err := coordinator.RunLocal(context.Background(), subs[i].Spec, ds, m.Grad, nil)
		if err != nil {
			t.Fatal(err)
		}
		if j.Outcome == nil || j.Outcome.ParamsSHA256 != tr.Params.SHA256() {
			t.Errorf("job %s: outcome %+v, RunLocal %s", id, j.Outcome, tr.Params.SHA256())
			continue
		}
		// The evaluation the workers ran equals one in this process.
		test, em := testSplit(subs[i].Spec)
		r, err := eval.Episodes(eval.Net{Model: em, Params: tr.Params, State: tr.State}, test, evalCfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := j.Outcome.Metrics["5way1shot_acc"]; got != r.Mean || j.Outcome.Metrics["5way1shot_ci95"] != r.CI95 {
			t.Errorf("job %s: evaluated on the workers %v, in one process %v ± %v", id, j.Outcome.Metrics, r.Mean, r.CI95)
		}
	}
	if err := s.Change("pause", "q-2"); err == nil {
		t.Error("a finished job was paused")
	}
	if err := s.Change("rm", "q-2"); err != nil {
		t.Errorf("rm a finished job: %v", err)
	}
	if _, ok := state("q-2"); ok {
		t.Error("q-2 still listed after rm")
	}
	// rm keeps the checkpoints, so the ID stays taken; purge frees it.
	if _, err := s.Submit(subs[1:2]); err == nil || !strings.Contains(err.Error(), "jobs purge q-2") {
		t.Errorf("q-2 submitted again after rm: %v, want refused, naming jobs purge", err)
	}
	if err := s.Change("purge", "q-2"); !errors.Is(err, coordinator.ErrUnknownJob) {
		t.Errorf("purge of a removed job: %v, want ErrUnknownJob", err)
	}
	if err := s.Change("purge", "q-3"); err != nil {
		t.Errorf("purge a finished job: %v", err)
	}
	if _, ok := state("q-3"); ok {
		t.Error("q-3 still listed after purge")
	}
	cancel()
	wg.Wait()
	// The store keeps the queue: read back without the server.
	q, err := coordinator.ReadQueue(db, nil)
	if err != nil || len(q) != 1 || q[0].ID != "q-1" || q[0].State != coordinator.StateDone {
		t.Errorf("queue read back: %+v, %v", q, err)
	}
	st, err := checkpoints.Open(db, checkpoints.WithReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for id, want := range map[string]bool{"q-1": true, "q-2": true, "q-3": false} {
		if _, err := st.Latest(id); (err == nil) != want {
			t.Errorf("newest checkpoint of %s: %v, want one: %v (rm keeps them, purge deletes them)", id, err, want)
		}
	}
}
