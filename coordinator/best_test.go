package coordinator_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fsl-project/fsl/checkpoints"
	"github.com/fsl-project/fsl/coordinator"
	"github.com/fsl-project/fsl/params"
	"github.com/fsl-project/fsl/wire/transport"
	"github.com/fsl-project/fsl/worker"
)

// trainValidated trains spec with one in-process worker and a validation
// whose val_acc at each step is acc[step] (0.1 for steps not in acc), and
// returns the store's path.
func trainValidated(t *testing.T, spec coordinator.JobSpec, acc map[int]float64) string {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, nc := coordinator.EmbeddedConn(t, transport.ConnectOptions{Name: "coord", Logger: log})
	validate := func(v int, _, _ params.Vector) (map[string]float64, error) {
		a, ok := acc[v]
		if !ok {
			a = 0.1
		}
		return map[string]float64{"val_acc": a, "val_ci95": 0.01}, nil
	}
	db := filepath.Join(t.TempDir(), "fsl.db")
	d, err := coordinator.NewDriver(coordinator.DriverConfig{Spec: spec, DB: db, Conn: nc, Logger: log, Validate: validate, Linger: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := worker.Run(ctx, worker.Config{Job: spec.ID, NATS: srv.ClientURL(), Name: "w0", GPU: -1, Logger: log}); err != nil {
			t.Errorf("worker: %v", err)
		}
	}()
	_, err = d.Run(ctx)
	wg.Wait()
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return db
}

// TestBestIsAlwaysAValidatedCheckpoint: a validation that falls between two
// checkpoints (eval_every 3, checkpoint_every 2) writes a checkpoint of its
// own, so it can be the best; validations at checkpoint steps write none
// more; and the best pointer always names a validated checkpoint.
func TestBestIsAlwaysAValidatedCheckpoint(t *testing.T) {
	if testing.Short() {
		t.Skip("trains small jobs (-short)")
	}
	cases := []struct {
		name                   string
		checkpointEvery, every int
		acc                    map[int]float64
		wantSteps              string
		wantBest               uint64
	}{
		// The eval_every 250 / checkpoint_every 100, scaled down:
		// the validation at 3 is the best and lies between checkpoints.
		{"validation between checkpoints is the best", 2, 3, map[int]float64{3: 0.9, 6: 0.5, 9: 0.7}, "[2 3 4 6 8 9]", 3},
		{"best at a checkpoint step", 2, 3, map[int]float64{3: 0.2, 6: 0.8, 9: 0.7}, "[2 3 4 6 8 9]", 6},
		{"validations only at checkpoint steps add none", 2, 4, map[int]float64{4: 0.3, 8: 0.6, 9: 0.5}, "[2 4 6 8 9]", 8},
		{"last step's validation", 4, 3, map[int]float64{9: 0.95}, "[3 4 6 8 9]", 9},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := coordinator.JobSpec{ID: "best", Size: 16, Way: 5, Shot: 1, Query: 1, Shards: 1, Steps: 9,
				CheckpointEvery: tc.checkpointEvery, EvalEvery: tc.every, Seed: 3}.WithDefaults()
			db := trainValidated(t, spec, tc.acc)
			st, err := checkpoints.Open(db, checkpoints.WithReadOnly())
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			infos, err := st.List(spec.ID)
			if err != nil {
				t.Fatal(err)
			}
			var steps []uint64
			for _, in := range infos {
				steps = append(steps, in.Step)
				validated := in.Step%uint64(tc.every) == 0 || in.Step == uint64(spec.Steps)
				if _, has := in.Metrics["val_acc"]; has != validated {
					t.Errorf("checkpoint %d: val_acc present %v, want %v (metrics %v)", in.Step, has, validated, in.Metrics)
				}
			}
			if got := fmt.Sprint(steps); got != tc.wantSteps {
				t.Errorf("checkpoints at %s, want %s", got, tc.wantSteps)
			}
			best, err := st.Best(spec.ID)
			if err != nil {
				t.Fatal(err)
			}
			if best.Step != tc.wantBest || best.Metrics["val_acc"] != tc.acc[int(tc.wantBest)] {
				t.Errorf("best is step %d (metrics %v), want step %d with val_acc %v", best.Step, best.Metrics, tc.wantBest, tc.acc[int(tc.wantBest)])
			}
		})
	}
}
