package coordinator_test

import (
	"context"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/fsl-project/fsl/coordinator"
	"github.com/fsl-project/fsl/model"
	"github.com/fsl-project/fsl/params"
	"github.com/fsl-project/fsl/wire"
	"github.com/fsl-project/fsl/wire/transport"
	"github.com/fsl-project/fsl/worker"
)

// newTestDriver starts a NATS server on 127.0.0.1 and a driver for spec
// connected to it, with a fresh checkpoint store; the test's cleanup stops
// both.
func newTestDriver(t *testing.T, spec coordinator.JobSpec, linger time.Duration) (*transport.Server, *coordinator.Driver) {
	t.Helper()
	return newTestDriverWith(t, coordinator.DriverConfig{Spec: spec, Linger: linger})
}

// newTestDriverWith is newTestDriver for a driver configured as cfg, whose
// Conn it sets, and its DB when empty.
func newTestDriverWith(t *testing.T, cfg coordinator.DriverConfig) (*transport.Server, *coordinator.Driver) {
	t.Helper()
	srv, nc := coordinator.EmbeddedConn(t, transport.ConnectOptions{Name: "coord"})
	cfg.Conn = nc
	if cfg.DB == "" {
		cfg.DB = filepath.Join(t.TempDir(), "fsl.db")
	}
	d, err := coordinator.NewDriver(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return srv, d
}

// runWithOneWorker runs d to its end with one worker of its job on srv,
// within a minute.
func runWithOneWorker(t *testing.T, srv *transport.Server, d *coordinator.Driver, job string) *coordinator.Summary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	go func() {
		if _, err := worker.Run(ctx, worker.Config{Job: job, NATS: srv.ClientURL(), Name: "w"}); err != nil {
			t.Error(err)
		}
	}()
	s, err := d.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestDriverCountsAndDropsBadResults sends the coordinator, over a real
// NATS server, results that must never be applied — a NaN gradient, a
// gradient of the wrong length, a result for a future step, and a payload
// that fails its checksum — then lets a real worker train the job. The run
// must apply exactly one result per shard and count each bad one under its
// reason.
func TestDriverCountsAndDropsBadResults(t *testing.T) {
	spec := coordinator.JobSpec{ID: "bad", Size: 16, Way: 5, Shot: 1, Query: 1, Shards: 2, Steps: 3, Seed: 4}.WithDefaults()
	srv, d := newTestDriver(t, spec, 100*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	type out struct {
		s   *coordinator.Summary
		err error
	}
	done := make(chan out, 1)
	go func() { s, err := d.Run(ctx); done <- out{s, err} }()

	m, err := model.New(spec.ModelConfig())
	if err != nil {
		t.Fatal(err)
	}
	subj, _ := wire.NewSubjects(spec.ID)
	rogue, err := transport.Connect(srv.ClientURL(), transport.ConnectOptions{Name: "rogue"})
	if err != nil {
		t.Fatal(err)
	}
	defer rogue.Close()
	valid := func() *wire.Result {
		return &wire.Result{Result: params.Result{Worker: "rogue", Step: 0, Shard: 0, Version: 0, Loss: 1, Count: 1, LayoutHash: m.Layout().Hash(),
			Grads: make(params.Vector, m.NumParams()), Stats: make(params.Vector, m.StateLayout().Size())}}
	}
	nan := valid()
	nan.Grads[7] = float32(math.NaN())
	short := valid()
	short.Grads = short.Grads[:10]
	future := valid()
	future.Step, future.Version = 2, 2
	for _, r := range []*wire.Result{nan, short, future} {
		if err := rogue.Send(subj.Result, r); err != nil {
			t.Fatal(err)
		}
	}
	corrupt, err := wire.Encode(valid())
	if err != nil {
		t.Fatal(err)
	}
	corrupt[len(corrupt)/2] ^= 0xff
	if err := rogue.PublishBytes(subj.Result, corrupt); err != nil {
		t.Fatal(err)
	}
	if err := rogue.Flush(); err != nil {
		t.Fatal(err)
	}
	// NATS keeps one publisher's order, but the rogue and the worker are two
	// publishers: wait until the driver has seen all four before the worker
	// starts, by asking its status until the counters show them.
	deadline := time.Now().Add(10 * time.Second)
	for d.Status().Status.Counters.InvalidTotal < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := worker.Run(ctx, worker.Config{Job: spec.ID, NATS: srv.ClientURL(), Name: "honest"}); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	s := r.s
	if s.Version != 3 || s.Counters.Applied != 6 {
		t.Fatalf("version %d with %d applied, want 3 and 6", s.Version, s.Counters.Applied)
	}
	want := map[string]int{"non-finite value": 1, "wrong gradient length": 1, "future step": 1}
	for reason, n := range want {
		if s.InvalidByReason[reason] != n {
			t.Errorf("invalid %q = %d, want %d (all: %v)", reason, s.InvalidByReason[reason], n, s.InvalidByReason)
		}
	}
	if s.Counters.InvalidTotal != 3 {
		t.Errorf("InvalidTotal = %d, want 3", s.Counters.InvalidTotal)
	}
	if s.Dropped != 1 {
		t.Errorf("dropped payloads = %d, want 1 (the corrupt one)", s.Dropped)
	}
}

// TestSummaryElapsedEndsWithTheLastStep: after the last step the driver
// lingers to tell workers the job is done; that wait is not training time
// and must not lower the images/s start prints.
func TestSummaryElapsedEndsWithTheLastStep(t *testing.T) {
	const linger = 1500 * time.Millisecond
	spec := coordinator.JobSpec{ID: "linger", Size: 16, Way: 5, Shot: 1, Query: 1, Shards: 1, Steps: 2, Seed: 4}.WithDefaults()
	srv, d := newTestDriver(t, spec, linger)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	go func() {
		if _, err := worker.Run(ctx, worker.Config{Job: spec.ID, NATS: srv.ClientURL(), Name: "w"}); err != nil {
			t.Error(err)
		}
	}()
	t0 := time.Now()
	s, err := d.Run(ctx)
	wall := time.Since(t0)
	if err != nil {
		t.Fatal(err)
	}
	if s.Version != 2 {
		t.Fatalf("version %d, want 2", s.Version)
	}
	if s.Elapsed <= 0 || s.Elapsed+linger > wall {
		t.Fatalf("summary elapsed %v with Run taking %v and lingering %v: the linger is counted", s.Elapsed, wall, linger)
	}
	if st := d.Status(); st.Elapsed != s.Elapsed.Seconds() {
		t.Errorf("status elapsed %vs, summary %v", st.Elapsed, s.Elapsed)
	}
}
