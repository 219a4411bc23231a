package model

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/fsl-project/fsl/params"
)

// peakGoroutines runs f while sampling runtime.NumGoroutine and returns
// the largest count seen.
func peakGoroutines(f func()) int {
	var peak atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			if n := int64(runtime.NumGoroutine()); n > peak.Load() {
				peak.Store(n)
			}
			select {
			case <-done:
				return
			default:
				runtime.Gosched()
			}
		}
	}()
	f()
	close(done)
	wg.Wait()
	return int(peak.Load())
}

// TestModelsWithDifferentThreadsCoexist builds two models in one process,
// one on 1 thread and one on 3, runs Grad on both at once on the same
// batch, and checks that they agree bit for bit (threads never change the
// bits) and that each computes on its own thread count: the 1-thread model
// starts no goroutines, the 3-thread one starts 3 per kernel call. (A
// second backend, the GPU, needs the fslcuda build and a device:
// gpu_cuda_test.go compares it with the CPU.)
func TestModelsWithDifferentThreadsCoexist(t *testing.T) {
	cfg := Config{Loss: params.KindTriplets}
	one, three := mustNew(t, cfg, Threads(1)), mustNew(t, cfg, Threads(3))
	if one.Threads() != 1 || three.Threads() != 3 {
		t.Fatalf("Threads() = %d and %d, want 1 and 3", one.Threads(), three.Threads())
	}
	if d := mustNew(t, cfg); d.Threads() != 1 {
		t.Errorf("default Threads() = %d, want 1", d.Threads())
	}
	p, s := one.Init(4)
	b := synthBatch(params.KindTriplets, 28, 4, 4)

	var r [2]params.Result
	var errs [2]error
	var wg sync.WaitGroup
	for i, m := range []*Model{one, three} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r[i], errs[i] = m.Grad(p, s, b)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if h1, h3 := hashOf(r[0].Grads, r[0].Stats, params.Vector{float32(r[0].Loss)}),
		hashOf(r[1].Grads, r[1].Stats, params.Vector{float32(r[1].Loss)}); h1 != h3 {
		t.Fatalf("1 thread and 3 threads computing at once differ: %s, %s", h1, h3)
	}

	// each alone: the 1-thread model computes on the calling goroutine, the
	// 3-thread one spreads each kernel call over 3 more. Other tests'
	// goroutines come and go, so take the fewest extra goroutines seen over
	// a few runs for the first and the most for the second.
	extra := func(m *Model) int {
		base := runtime.NumGoroutine()
		return peakGoroutines(func() { m.Grad(p, s, b) }) - base - 1 // less the sampler
	}
	fewest, most := extra(one), extra(three)
	for try := 0; try < 4; try++ {
		fewest, most = min(fewest, extra(one)), max(most, extra(three))
	}
	// one goroutine of slack: the runtime may briefly count one that is
	// exiting (a previous sampler or worker)
	if fewest > 1 {
		t.Errorf("1-thread model started %d goroutines, want none", fewest)
	}
	if most < 3 {
		t.Errorf("3-thread model started at most %d goroutines at once, want 3", most)
	}
}
