package model

import (
	"math"
	"testing"

	"github.com/fsl-project/fsl/model/cpu"
	"github.com/fsl-project/fsl/params"
	"gorgonia.org/tensor"
)

// TestGradientsMatchCentralDifferences checks the graph's gradient of
// every parameter tensor, for each loss, against float64 central
// differences of the loss (sampled elements per tensor).
func TestGradientsMatchCentralDifferences(t *testing.T) {
	const (
		size    = 16
		filters = 4
		eps     = 1e-5
		tol     = 1e-4
		samples = 6
	)
	cases := []struct {
		name  string
		cfg   Config
		batch *params.Batch
	}{
		// a large margin keeps every triplet's hinge active, far from its kink
		{"triplet", Config{Loss: params.KindTriplets, Size: size, Filters: filters, Margin: 100}, synthBatch(params.KindTriplets, size, 3, 7)},
		{"siamese", Config{Loss: params.KindPairs, Size: size, Filters: filters}, synthBatch(params.KindPairs, size, 4, 7)},
		{"proto", Config{Loss: params.KindEpisode, Size: size, Filters: filters}, synthEpisode(size, 3, 2, 2, 7)},
		{"matching", Config{Loss: params.KindEpisode, Matching: true, Size: size, Filters: filters}, synthEpisode(size, 3, 2, 2, 7)},
		{"matching at temperature 0.1", Config{Loss: params.KindEpisode, Matching: true, Temperature: 0.1, Size: size, Filters: filters}, synthEpisode(size, 3, 2, 2, 7)},
		// large margins keep every mined triplet's hinge active; the choice
		// of triplets is constant under the tiny perturbations
		{"batch-hard", Config{Loss: params.KindClasses, Mining: MiningBatchHard, Size: size, Filters: filters, Margin: 100}, synthClasses(size, 3, 3, 7)},
		{"semi-hard", Config{Loss: params.KindClasses, Mining: MiningSemiHard, Size: size, Filters: filters, Margin: 100}, synthClasses(size, 3, 3, 7)},
		// odd sides (19→9→4→2→1): pooling drops a row and a column
		{"siamese 19x19", Config{Loss: params.KindPairs, Size: 19, Filters: 3}, synthBatch(params.KindPairs, 19, 3, 8)},
		// 16 filters: blocks 2 and 3 (9×9 and 4×4 with odd, cropped tiles)
		// take the Winograd path
		{"proto 18x18 winograd", Config{Loss: params.KindEpisode, Size: 18, Filters: 16}, synthEpisode(18, 3, 1, 1, 9)},
		// three input planes: conv1.w [F 3 3 3], the pixels' planes as the
		// input's channels
		{"proto RGB", Config{Loss: params.KindEpisode, Size: size, Filters: filters, Channels: params.RGB},
			inColour(synthEpisode(size, 3, 2, 2, 7), params.RGB, 7)},
		{"triplet RGB", Config{Loss: params.KindTriplets, Size: size, Filters: filters, Margin: 100, Channels: params.RGB},
			inColour(synthBatch(params.KindTriplets, size, 3, 7), params.RGB, 8)},
	}
	if k := cpu.New(1); !k.Winograd(16, 9, 9) || !k.Winograd(16, 4, 4) {
		t.Fatal("the 16-filter case no longer takes the Winograd path")
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := newModel(tc.cfg, tensor.Float64)
			if err != nil {
				t.Fatal(err)
			}
			p32, _ := m.Init(3)
			p := toF64(p32)
			// nudge gamma and beta off their initial 1 and 0 so every
			// term of the batch-norm gradient is exercised
			for i, e := range m.layout.Entries {
				for j := 0; j < e.Size(); j++ {
					switch {
					case i%3 == 1 && i < 12:
						p[e.Offset+j] += 0.1 * float64(j%3)
					case i%3 == 2 && i < 12:
						p[e.Offset+j] += 0.05 * float64(j%4)
					}
				}
			}
			grads, _, loss, _, err := gradOf(m, p, tc.batch)
			if err != nil {
				t.Fatal(err)
			}
			if loss <= 0 || math.IsNaN(loss) {
				t.Fatalf("loss %v, want > 0", loss)
			}
			lossAt := func(q []float64) float64 {
				_, _, l, _, err := gradOf(m, q, tc.batch)
				if err != nil {
					t.Fatal(err)
				}
				return l
			}
			q := append([]float64(nil), p...)
			for _, e := range m.layout.Entries {
				n := e.Size()
				worst := 0.0
				for s := 0; s < min(samples, n); s++ {
					i := e.Offset + (s*n)/min(samples, n) + (s*7)%max(1, n/min(samples, n))
					q[i] = p[i] + eps
					up := lossAt(q)
					q[i] = p[i] - eps
					down := lossAt(q)
					q[i] = p[i]
					num := (up - down) / (2 * eps)
					// floor 1e-6, not 1e-8: central differences carry ~1e-10 of
					// roundoff (1e-16·loss/eps, eps 1e-5), and some gradients are exactly
					// zero (bn4.beta under the prototypical loss: shifting every
					// embedding alike leaves all distances unchanged)
					rel := math.Abs(num-grads[i]) / math.Max(math.Abs(num)+math.Abs(grads[i]), 1e-6)
					worst = math.Max(worst, rel)
					if rel > tol {
						t.Errorf("%s[%d]: graph gradient %.9g, central difference %.9g, relative error %.2g > %g",
							e.Name, i-e.Offset, grads[i], num, rel, tol)
					}
				}
				t.Logf("%-10s %v: worst relative error %.2g", e.Name, e.Shape, worst)
			}
		})
	}
}

// TestFloat32GradientsMatchFloat64 checks the production float32 path
// (sgemm) against the float64 path the central differences verify.
func TestFloat32GradientsMatchFloat64(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   Config
		batch *params.Batch
	}{
		// 28→14→7→3→1: blocks 3 and 4 pool odd sides
		{"proto 28x28", Config{Loss: params.KindEpisode, Size: 28, Filters: 16}, synthEpisode(28, 5, 1, 2, 11)},
		{"triplet 28x28", Config{Loss: params.KindTriplets, Size: 28, Filters: 16}, synthBatch(params.KindTriplets, 28, 6, 12)},
		{"siamese 19x19", Config{Loss: params.KindPairs, Size: 19, Filters: 8}, synthBatch(params.KindPairs, 19, 8, 13)},
		{"matching 28x28", Config{Loss: params.KindEpisode, Matching: true, Size: 28, Filters: 16}, synthEpisode(28, 5, 2, 2, 14)},
		{"matching 28x28 at temperature 0.1", Config{Loss: params.KindEpisode, Matching: true, Temperature: 0.1, Size: 28, Filters: 16}, synthEpisode(28, 5, 2, 2, 14)},
		{"batch-hard 28x28", Config{Loss: params.KindClasses, Size: 28, Filters: 16, Margin: 50}, synthClasses(28, 4, 3, 15)},
		{"semi-hard 28x28", Config{Loss: params.KindClasses, Mining: MiningSemiHard, Size: 28, Filters: 16, Margin: 50}, synthClasses(28, 4, 3, 16)},
		{"proto 28x28 RGB", Config{Loss: params.KindEpisode, Size: 28, Filters: 16, Channels: params.RGB}, inColour(synthEpisode(28, 5, 1, 2, 11), params.RGB, 17)},
		{"siamese 19x19 RGB", Config{Loss: params.KindPairs, Size: 19, Filters: 8, Channels: params.RGB}, inColour(synthBatch(params.KindPairs, 19, 8, 13), params.RGB, 18)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m32 := mustNew(t, tc.cfg)
			m64, err := newModel(tc.cfg, tensor.Float64)
			if err != nil {
				t.Fatal(err)
			}
			p, s := m32.Init(11)
			r, err := m32.Grad(p, s, tc.batch)
			if err != nil {
				t.Fatal(err)
			}
			g64, _, loss64, _, err := gradOf(m64, toF64(p), tc.batch)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(r.Loss-loss64) > 1e-4*math.Abs(loss64) {
				t.Errorf("loss float32 %v, float64 %v", r.Loss, loss64)
			}
			for _, e := range m32.layout.Entries {
				var diff, norm float64
				for i := e.Offset; i < e.Offset+e.Size(); i++ {
					d := float64(r.Grads[i]) - g64[i]
					diff += d * d
					norm += g64[i] * g64[i]
				}
				if rel := math.Sqrt(diff / math.Max(norm, 1e-30)); rel > 1e-3 && norm > 1e-12 {
					t.Errorf("%s: float32 gradient differs from float64 by %.2g (relative L2)", e.Name, rel)
				}
			}
		})
	}
}
