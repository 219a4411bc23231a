package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fsl-project/fsl/coordinator"
	"github.com/fsl-project/fsl/wire"
)

// hoarder is a client with the job's token that joins, takes every lease it
// is given, heartbeats and never sends a result: fsl's own wire package
// turned against it.
type hoarder struct {
	id     string
	leases atomic.Int64
	waits  atomic.Int64
}

// run joins and hoards until ctx ends or the job is done. joined is closed
// once the coordinator has acknowledged the join.
func (h *hoarder) run(ctx context.Context, url string, joined chan<- struct{}) error {
	cl, err := dialClient(ctx, url, h.id)
	if err != nil {
		return err
	}
	defer cl.nc.Close()
	// It computes the job's canary, as any client with the model can: the
	// compute-class check admits it like an honest worker.
	_, m, canary, err := cl.join()
	if err != nil {
		return err
	}
	joined <- struct{}{}
	cl.heartbeat()
	// Ask again at once after a lease, and after a Wait ignore its
	// RetryAfter but for a short pause; bounded by ctx, which the test
	// cancels when the job ends, and by a count.
	for i := 0; i < 100000 && ctx.Err() == nil; i++ {
		reply, err := cl.request(cl.subj.Work, &wire.WorkRequest{Worker: h.id, Canary: canary, Class: m.Class()})
		if err != nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		switch reply.(type) {
		case *wire.Lease:
			h.leases.Add(1)
		case *wire.Done:
			return nil
		default:
			h.waits.Add(1)
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

func TestHoardingClientsCannotStallTheJob(t *testing.T) {
	build(t)
	dir := t.TempDir()
	ref := benchTrain(t, dir, jobArgs(filepath.Join(dir, "fsl.db"), filepath.Join(dir, "summary.json")))
	undisturbed, uWall := hoardRun(t, 0)
	hoarded, hWall := hoardRun(t, 8)
	for name, s := range map[string]coordinator.Summary{"undisturbed": undisturbed, "hoarded": hoarded} {
		checkExactlyOnce(t, s)
		if s.ParamsSHA256 != ref {
			t.Errorf("%s run ends with params %s, bench train with %s", name, s.ParamsSHA256, ref)
		}
	}
	// Whether a hoarder is quarantined depends on how many of the first
	// step's leases it grabbed (the machine's tests cover quarantine); that
	// the hoarders held leases is certain.
	if hoarded.Counters.Leased <= hoarded.Counters.Applied {
		t.Errorf("the hoarders held no lease: %+v", hoarded.Counters)
	}
	ratio := uWall.Seconds() / hWall.Seconds()
	t.Logf("undisturbed %.2fs (job %.2fs), hoarded %.2fs (job %.2fs): %.0f%% of the undisturbed speed; hoarded run: expired %d, quarantines %d, refused by the cap %d",
		uWall.Seconds(), undisturbed.Elapsed.Seconds(), hWall.Seconds(), hoarded.Elapsed.Seconds(), 100*ratio,
		hoarded.Counters.Expired, hoarded.Counters.Quarantines, hoarded.Counters.Refused)
	if ratio < 0.5 {
		t.Errorf("8 hoarders cut the job to %.0f%% of its undisturbed speed, want at least 50%%", 100*ratio)
	}
}

// hoardRun runs the job with a coordinator and 2 honest worker processes,
// after n hoarders have joined, and returns its summary and the wall time
// from starting the honest workers to the coordinator's exit.
func hoardRun(t *testing.T, n int) (coordinator.Summary, time.Duration) {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	// The job of the other tests, with 2s leases: a hoarder's first leases
	// (taken before any worker has delivered) stall the job once, for a
	// lease timeout.
	args := append(jobArgs(filepath.Join(dir, "fsl.db"), filepath.Join(dir, "summary.json")), "--listen", fmt.Sprintf("127.0.0.1:%d", port))
	for i := range args {
		if args[i] == "--lease-timeout" {
			args[i+1] = "2s"
		}
	}
	c := start(t, "coord", bins.coord, args...)
	obs := observer(t, url)
	for deadline := time.Now().Add(30 * time.Second); step(obs) < 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("coordinator never answered its status subject")
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	hs := make([]*hoarder, n)
	joined := make(chan struct{}, n)
	for i := range hs {
		hs[i] = &hoarder{id: fmt.Sprintf("hoarder-%d", i)}
		wg.Add(1)
		go func(h *hoarder) {
			defer wg.Done()
			if err := h.run(ctx, url, joined); err != nil && ctx.Err() == nil {
				t.Errorf("%s: %v", h.id, err)
			}
		}(hs[i])
	}
	defer func() { cancel(); wg.Wait() }()
	for range hs {
		select {
		case <-joined:
		case <-time.After(30 * time.Second):
			t.Fatal("the hoarders did not all join within 30s")
		}
	}
	begin := time.Now()
	ws := workers(t, url, 2)
	c.wait(t, 3*time.Minute)
	wall := time.Since(begin)
	for _, w := range ws {
		w.wait(t, 30*time.Second)
	}
	took := int64(0)
	for _, h := range hs {
		t.Logf("%s took %d leases, was told to wait %d times", h.id, h.leases.Load(), h.waits.Load())
		took += h.leases.Load()
	}
	// A hoarder the coordinator refuses (a wrong canary, say) tests nothing.
	if n > 0 && took < int64(n) {
		t.Errorf("%d hoarders took %d leases in all: they were not hoarding", n, took)
	}
	return readSummary(t, filepath.Join(dir, "summary.json")), wall
}
