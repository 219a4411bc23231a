package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/fsl-project/fsl/model/cpu/internal/simd"
)

// conv1ForwardRef is conv1Forward's arithmetic in Go: per output, the
// nine products in order, each rounded, added one at a time.
func conv1ForwardRef(x, w, y []float32, n, h, wd, f int) {
	at := func(b, r, c int) float32 {
		if r < 0 || r >= h || c < 0 || c >= wd {
			return 0
		}
		return x[(b*h+r)*wd+c]
	}
	for fi := 0; fi < f; fi++ {
		k := w[fi*9 : fi*9+9]
		for b := 0; b < n; b++ {
			for r := 0; r < h; r++ {
				for c := 0; c < wd; c++ {
					acc := float32(k[0] * at(b, r-1, c-1))
					for j := 1; j < 9; j++ {
						acc += float32(k[j] * at(b, r+j/3-1, c+j%3-1))
					}
					y[((fi*n+b)*h+r)*wd+c] = acc
				}
			}
		}
	}
}

// conv1GradWRef is conv1GradW's arithmetic in Go: 16 lanes per segment,
// dead and padded lanes adding dy·0 like the kernel's zeroed loads, chunks
// and lanes summed as conv1GradW sums them.
func conv1GradWRef(x, dy, dw []float32, n, h, wd, f int) {
	segs := (wd + 15) / 16
	per, chunks := chunking(n, h*wd, 9)
	at := func(p []float32, r, c int) float32 {
		if r < 0 || r >= h || c < 0 || c >= wd {
			return 0
		}
		return p[r*wd+c]
	}
	part := make([]float32, chunks*f*9)
	for i := 0; i < chunks; i++ {
		for fi := 0; fi < f; fi++ {
			var acc [144]float32
			for b := i * per; b < min(n, (i+1)*per); b++ {
				xp, dp := x[b*h*wd:], dy[(fi*n+b)*h*wd:]
				for r := 0; r < h; r++ {
					for s := 0; s < segs; s++ {
						for l := 0; l < 16; l++ {
							c := 16*s + l
							d := at(dp, r, c)
							for k := 0; k < 9; k++ {
								acc[16*k+l] += float32(d * at(xp, r+k/3-1, c+k%3-1))
							}
						}
					}
				}
			}
			for k := 0; k < 9; k++ {
				part[(i*f+fi)*9+k] = reduce16(acc[16*k : 16*k+16])
			}
		}
	}
	sumParts(dw[:f*9], part, chunks)
}

// TestConv1KernelsMatchGoBitForBit runs the AVX-512 first-layer kernels
// and their Go reference on data with exact ties and zeros of both signs,
// over widths below, at and across 16-column segments and odd heights.
func TestConv1KernelsMatchGoBitForBit(t *testing.T) {
	if !simd.Available || !simd.Available512 {
		t.Skip("no AVX-512 on this CPU: the first layer runs im2col here")
	}
	for _, tc := range []struct{ n, h, w, f int }{
		{2, 1, 1, 3},
		{3, 5, 7, 4},
		{2, 16, 16, 5},
		{2, 9, 17, 6},
		{7, 28, 28, 64}, // block 1 at 28×28, several chunks
		{1, 3, 33, 2},
	} {
		rng := rand.New(rand.NewPCG(uint64(tc.w*100+tc.h), 13))
		x := tieData(rng, tc.n*tc.h*tc.w)
		w := tieData(rng, tc.f*9)
		dy := tieData(rng, tc.f*tc.n*tc.h*tc.w)
		y, yRef := make([]float32, len(dy)), make([]float32, len(dy))
		dw, dwRef := make([]float32, len(w)), make([]float32, len(w))
		k := New(1)
		conv1Forward(k, x, w, y, tc.n, tc.h, tc.w, tc.f)
		conv1ForwardRef(x, w, yRef, tc.n, tc.h, tc.w, tc.f)
		conv1GradW(k, x, dy, dw, tc.n, tc.h, tc.w, tc.f)
		conv1GradWRef(x, dy, dwRef, tc.n, tc.h, tc.w, tc.f)
		for _, p := range []struct {
			name     string
			asm, ref []float32
		}{{"y", y, yRef}, {"dw", dw, dwRef}} {
			for i := range p.ref {
				if math.Float32bits(p.asm[i]) != math.Float32bits(p.ref[i]) {
					t.Errorf("%+v %s[%d]: AVX-512 %v (%#x), Go %v (%#x)", tc, p.name, i,
						p.asm[i], math.Float32bits(p.asm[i]), p.ref[i], math.Float32bits(p.ref[i]))
					break
				}
			}
		}
	}
}

// TestConv1MatchesIm2col checks the direct first layer against the im2col
// path through convForward and convGradW: float32 within 2e-6 of the
// output's scale.
func TestConv1MatchesIm2col(t *testing.T) {
	if !New(1).direct1(1) {
		t.Skip("no AVX-512 on this CPU: the first layer runs im2col here")
	}
	for _, tc := range []struct{ n, h, w, f int }{{5, 28, 28, 64}, {3, 7, 19, 8}} {
		rng := rand.New(rand.NewPCG(uint64(tc.w), 14))
		x := toF32(randVec(rng, tc.n*tc.h*tc.w, 1))
		w := toF32(randVec(rng, tc.f*9, 0.3))
		dy := toF32(randVec(rng, tc.f*tc.n*tc.h*tc.w, 1))
		run := func(direct bool) (y, dw []float32) {
			k := New(1)
			k.simd512 = direct
			y, dw = make([]float32, len(dy)), make([]float32, len(w))
			ConvForward(k, x, w, y, 1, tc.n, tc.h, tc.w, tc.f)
			ConvGradW(k, x, dy, dw, 1, tc.n, tc.h, tc.w, tc.f)
			return y, dw
		}
		y0, dw0 := run(false)
		y1, dw1 := run(true)
		if e := relErr(y1, y0); !(e <= 2e-6) {
			t.Errorf("%+v forward: direct off by %.3g of scale", tc, e)
		}
		if e := relErr(dw1, dw0); !(e <= 2e-6) {
			t.Errorf("%+v weight gradient: direct off by %.3g of scale", tc, e)
		}
	}
}
