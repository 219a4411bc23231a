//go:build fslcuda

package model

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fsl-project/fsl/model/gpu"
	"github.com/fsl-project/fsl/params"
	"gorgonia.org/tensor"
)

// gpuModel returns a model for cfg computing on GPU 0, or skips the test
// with the reason when there is none; with FSL_REQUIRE_GPU=1 a missing GPU
// fails the test.
func gpuModel(t testing.TB, cfg Config) *Model {
	t.Helper()
	m, err := New(cfg, GPU(0))
	if err != nil {
		if os.Getenv("FSL_REQUIRE_GPU") == "1" {
			t.Fatalf("FSL_REQUIRE_GPU=1 but GPU(0) failed: %v", err)
		}
		t.Skipf("no usable GPU (set FSL_REQUIRE_GPU=1 to make this a failure): %v", err)
	}
	t.Logf("GPU: %s", m.DeviceInfo())
	return m
}

// gpuRelErr is max|a−b| / max(max|b|, 1e-6): the error of a against the
// reference b, relative to b's largest magnitude.
func gpuRelErr(a, b []float32) float64 {
	var diff, scale float64
	for i := range b {
		diff = math.Max(diff, math.Abs(float64(a[i])-float64(b[i])))
		scale = math.Max(scale, math.Abs(float64(b[i])))
	}
	return diff / math.Max(scale, 1e-6)
}

// TestGPUGradMatchesCPU compares the GPU step with two CPU references, the
// float32 path and the float64 one: a pooling window whose two largest
// values differ by less than float32 rounding can route its gradient to a
// different pixel in any one of the three (seen on the CPU float32 path,
// proto seed 1: conv3.w off by 1.3e-2 while the GPU matched float64 within
// 6e-6), so a seed passes when the GPU is within tol of either reference.
func TestGPUGradMatchesCPU(t *testing.T) {
	gpuModel(t, Config{})
	const tol = 1e-4
	cases := []struct {
		name     string
		kind     params.Kind
		channels int
		batch    func(seed uint64) *params.Batch
	}{
		{"triplet", params.KindTriplets, 0, func(s uint64) *params.Batch { return synthBatch(params.KindTriplets, 28, 20, s) }},
		{"siamese", params.KindPairs, 0, func(s uint64) *params.Batch { return synthBatch(params.KindPairs, 28, 30, s) }},
		{"proto", params.KindEpisode, 0, func(s uint64) *params.Batch { return synthEpisode(28, 5, 2, 10, s) }},
		// three input planes: reordered to [C N H W] on the host
		{"proto RGB", params.KindEpisode, params.RGB, func(s uint64) *params.Batch {
			return inColour(synthEpisode(28, 5, 2, 10, s), params.RGB, s)
		}},
	}
	worst := 0.0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := Config{Loss: c.kind, Channels: c.channels}
			m, cpuM := gpuModel(t, cfg), mustNew(t, cfg)
			m64, err := newModel(cfg, tensor.Float64)
			if err != nil {
				t.Fatal(err)
			}
			for seed := uint64(1); seed <= 2; seed++ {
				p, state := m.Init(seed)
				rng := rand.New(rand.NewPCG(seed, 99))
				for i := range p { // move gamma, beta and the head off their initial values
					p[i] += float32(0.1 * rng.NormFloat64())
				}
				b := c.batch(seed)
				got, err := m.Grad(p, state, b)
				if err != nil {
					t.Fatalf("GPU Grad: %v", err)
				}
				want, err := cpuM.Grad(p, state, b)
				if err != nil {
					t.Fatalf("CPU Grad: %v", err)
				}
				if got.Count != want.Count {
					t.Errorf("seed %d: Count = %d, CPU %d", seed, got.Count, want.Count)
				}
				p64 := make([]float64, len(p))
				for i, v := range p {
					p64[i] = float64(v)
				}
				g64, s64, loss64, _, err := gradOf(m64, p64, b)
				if err != nil {
					t.Fatalf("CPU float64 Grad: %v", err)
				}
				want64 := params.Result{Grads: toF32(g64), Stats: toF32(s64), Loss: loss64}
				// errs compares got with one reference: the loss, every
				// gradient and statistics entry, and the worst of them
				errs := func(ref params.Result) (lines []string, worst float64) {
					le := math.Abs(got.Loss-ref.Loss) / math.Max(math.Abs(ref.Loss), 1e-6)
					lines = append(lines, fmt.Sprintf("loss GPU %.7g ref %.7g (rel %.2g)", got.Loss, ref.Loss, le))
					worst = le
					for _, v := range []struct {
						what string
						l    params.Layout
						g, w params.Vector
					}{{"gradient", m.Layout(), got.Grads, ref.Grads}, {"statistics", m.StateLayout(), got.Stats, ref.Stats}} {
						for _, e := range v.l.Entries {
							r := gpuRelErr(v.g[e.Offset:e.Offset+e.Size()], v.w[e.Offset:e.Offset+e.Size()])
							worst = math.Max(worst, r)
							lines = append(lines, fmt.Sprintf("%s %s: relative error %.2g", v.what, e.Name, r))
						}
					}
					return lines, worst
				}
				l32, w32 := errs(want)
				l64, w64 := errs(want64)
				best := math.Min(w32, w64)
				worst = math.Max(worst, best)
				t.Logf("seed %d: worst relative error against CPU float32 %.2g, against CPU float64 %.2g", seed, w32, w64)
				for i := range l32 {
					t.Logf("seed %d: float32 %s | float64 %s", seed, l32[i], l64[i])
				}
				if best > tol {
					t.Errorf("seed %d: GPU off both CPU references: worst relative error %.3g (float32), %.3g (float64) > %g", seed, w32, w64, tol)
				}
			}
		})
	}
	t.Logf("worst relative error over losses, gradients and statistics: %.3g (tolerance %g)", worst, tol)
}

func TestGPUStepIsDeterministic(t *testing.T) {
	m := gpuModel(t, Config{Loss: params.KindTriplets})
	p, state := m.Init(3)
	b := synthBatch(params.KindTriplets, 28, 20, 3)
	r1, err := m.Grad(p, state, b)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := m.Grad(p, state, b)
	if err != nil {
		t.Fatal(err)
	}
	if r1.Loss != r2.Loss {
		t.Errorf("loss %v then %v", r1.Loss, r2.Loss)
	}
	for i := range r1.Grads {
		if math.Float32bits(r1.Grads[i]) != math.Float32bits(r2.Grads[i]) {
			t.Fatalf("gradient %d differs between two identical steps: %v, %v", i, r1.Grads[i], r2.Grads[i])
		}
	}
}

func TestGPURejectsBadBatch(t *testing.T) {
	m := gpuModel(t, Config{Loss: params.KindTriplets})
	p, state := m.Init(1)
	b := synthBatch(params.KindTriplets, 28, 2, 1)
	b.Labels[2] = b.Labels[0] // negative of the anchor's class
	if _, err := m.Grad(p, state, b); !errors.Is(err, ErrBatch) {
		t.Fatalf("Grad of a bad triplet on the GPU = %v, want ErrBatch", err)
	}
}

func TestGPUOptionErrors(t *testing.T) {
	if _, err := New(Config{}, GPU(-2)); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "-1 (CPU)") {
		t.Errorf("GPU(-2) = %v, want ErrConfig naming -1 (CPU)", err)
	}
	cpuM, err := New(Config{}, GPU(-1))
	if err != nil {
		t.Fatalf("GPU(-1) = %v", err)
	}
	if cpuM.DeviceInfo() != "" {
		t.Errorf("DeviceInfo on the CPU = %q, want empty", cpuM.DeviceInfo())
	}
	m, err := New(Config{}, GPU(0))
	if err != nil {
		// no GPU here: the error must say so and what to do
		if os.Getenv("FSL_REQUIRE_GPU") == "1" {
			t.Fatalf("FSL_REQUIRE_GPU=1 but GPU(0) failed: %v", err)
		}
		if !errors.Is(err, ErrNoCUDA) || !errors.Is(err, gpu.ErrNoDevice) || !strings.Contains(err.Error(), "--gpu -1") {
			t.Fatalf("GPU(0) without a GPU = %v, want ErrNoCUDA and gpu.ErrNoDevice naming --gpu -1", err)
		}
		t.Skipf("no GPU; checked the error only: %v", err)
	}
	if !strings.Contains(m.DeviceInfo(), "cuda:0") {
		t.Errorf("DeviceInfo with GPU 0 = %q, want cuda:0", m.DeviceInfo())
	}
	_, err = New(Config{}, GPU(1<<20))
	if !errors.Is(err, gpu.ErrNoDevice) || !errors.Is(err, ErrNoCUDA) || !strings.Contains(err.Error(), "sees") {
		t.Fatalf("GPU(1<<20) = %v, want gpu.ErrNoDevice naming how many devices the process sees", err)
	}
	if !strings.Contains(m.DeviceInfo(), "cuda:0") {
		t.Errorf("a failed New changed another model's device: DeviceInfo %q", m.DeviceInfo())
	}
	t.Logf("bad index: %v", err)
}

func benchmarkGPUTriplet(b *testing.B, triplets int) {
	m := gpuModel(b, Config{Loss: params.KindTriplets})
	p, state := m.Init(1)
	batch := synthBatch(params.KindTriplets, 28, triplets, 1)
	if _, err := m.Grad(p, state, batch); err != nil { // allocate the Net
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := m.Grad(p, state, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*3*triplets)/time.Since(start).Seconds(), "images/s")
}

// BenchmarkGPUTripletStep60 is one Grad of 20 triplets (60 images, 28×28,
// Conv-4 64 filters) on GPU 0, host head and copies included.
func BenchmarkGPUTripletStep60(b *testing.B) { benchmarkGPUTriplet(b, 20) }

// BenchmarkGPUTripletStep600 is the same with 200 triplets (600 images).
func BenchmarkGPUTripletStep600(b *testing.B) { benchmarkGPUTriplet(b, 200) }
