package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/fsl-project/fsl/model/cpu/internal/simd"
)

// simdKernels returns one-thread kernels with the assembly on or off.
func simdKernels(on bool) *Kernels {
	k := New(1)
	k.simd = on
	return k
}

// tieData is n values on a coarse grid (many exact ties, zeros of both
// signs, negatives), so every branch of the window logic is taken.
func tieData(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.IntN(7)-3) / 2
		if rng.IntN(9) == 0 {
			v[i] = float32(rng.NormFloat64())
		}
		if v[i] == 0 && rng.IntN(2) == 0 {
			v[i] = float32(math.Copysign(0, -1))
		}
	}
	return v
}

func TestSIMDKernelsMatchGoBitForBit(t *testing.T) {
	if !simd.Available {
		t.Skip("no AVX2 on this CPU: only the Go kernels run here")
	}
	for _, tc := range []struct{ n, h, w int }{
		{3, 28, 28}, // rows of 14 windows: a block and an overlapping one
		{2, 16, 16}, // exactly one block
		{2, 34, 35}, // 17 windows, odd width
		{4, 7, 7},   // rows of 3 windows: staged end to end across rows and planes
		{5, 14, 14}, // 7 (block 2 at 28×28)
		{9, 3, 3},   // 1 window a plane, 9 in all: a block and an overlapping one
		{3, 6, 5},   // odd width, narrow
		{7, 3, 3},   // 7 windows in all: fewer than a block, Go only
	} {
		rng := rand.New(rand.NewPCG(uint64(tc.h*100+tc.w), 9))
		x := tieData(rng, tc.n*tc.h*tc.w)
		om := tc.n * (tc.h / 2) * (tc.w / 2)
		g := tieData(rng, om)
		type out struct {
			y, sel, dx []float32
			code       []uint8
			sum, sq    float64
		}
		run := func(k *Kernels) out {
			o := out{y: make([]float32, om), sel: make([]float32, om), dx: make([]float32, len(x)), code: make([]uint8, om)}
			for _, a := range []float32{1.5, -0.75} {
				routePlanes(k, x, o.y, o.code, o.sel, tc.n, tc.h, tc.w, a, 0.25)
			}
			k.inputGradPlanes32(x, o.dx, o.code, g, tc.n, tc.h, tc.w, 0.3, -0.2, 1.7)
			o.sum, o.sq = k.channelSums32(x)
			return o
		}
		var goOut, asmOut out
		goOut, asmOut = run(simdKernels(false)), run(simdKernels(true))
		same := func(what string, a, b []float32) {
			for i := range a {
				if math32bits(a[i]) != math32bits(b[i]) {
					t.Fatalf("%dx%d %s[%d]: assembly %v, Go %v", tc.h, tc.w, what, i, a[i], b[i])
				}
			}
		}
		same("y", asmOut.y, goOut.y)
		same("sel", asmOut.sel, goOut.sel)
		same("dx", asmOut.dx, goOut.dx)
		for i := range goOut.code {
			if asmOut.code[i] != goOut.code[i] {
				t.Fatalf("%dx%d code[%d]: assembly %d, Go %d", tc.h, tc.w, i, asmOut.code[i], goOut.code[i])
			}
		}
		if asmOut.sum != goOut.sum || asmOut.sq != goOut.sq {
			t.Fatalf("%dx%d sums: assembly %v %v, Go %v %v", tc.h, tc.w, asmOut.sum, asmOut.sq, goOut.sum, goOut.sq)
		}
	}
}

func BenchmarkWindowKernels(b *testing.B) {
	n, h, w := 60, 28, 28 // one channel of the first block at batch 60
	rng := rand.New(rand.NewPCG(1, 1))
	x := tieData(rng, n*h*w)
	om := n * (h / 2) * (w / 2)
	y, sel, g, dx := make([]float32, om), make([]float32, om), tieData(rng, om), make([]float32, len(x))
	code := make([]uint8, om)
	for _, on := range []bool{false, true} {
		if on && !simd.Available {
			continue
		}
		name := map[bool]string{false: "go", true: "avx2"}[on]
		k := simdKernels(on)
		func() {
			b.Run("route/"+name, func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					routePlanes(k, x, y, code, sel, n, h, w, 1.1, 0.1)
				}
			})
			b.Run("inputgrad/"+name, func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					k.inputGradPlanes32(x, dx, code, g, n, h, w, 0.1, 0.2, 0.3)
				}
			})
			b.Run("sums/"+name, func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					k.channelSums32(x)
				}
			})
		}()
	}
}

func math32bits(v float32) uint32 { return math.Float32bits(v) }
