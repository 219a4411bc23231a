package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/fsl-project/fsl/model/cpu/internal/simd"
)

// convPasses runs the three convolution products (forward, input
// gradient, weight gradient) of x [C N H W], w [F C 3 3] and dy [F N H W]
// on k with its Winograd path on or off.
func convPasses[T Float](k *Kernels, wino bool, x, w, dy []T, c, n, h, wd, f int) (y, dx, dw []T) {
	kw := *k
	kw.useWinograd = wino
	y, dx, dw = make([]T, f*n*h*wd), make([]T, c*n*h*wd), make([]T, f*c*9)
	ConvForward(&kw, x, w, y, c, n, h, wd, f)
	ConvGradX(&kw, w, dy, dx, f, c, n, h, wd)
	ConvGradW(&kw, x, dy, dw, c, n, h, wd, f)
	return y, dx, dw
}

// TestWinogradMatchesIm2col checks the Winograd forward, input gradient
// and weight gradient against the im2col path on shapes with odd sides
// (cropped tiles), unequal channel counts and several chunks: float64 to
// 1e-12 and float32 to 2e-6 of the output's scale.
func TestWinogradMatchesIm2col(t *testing.T) {
	k := New(1)
	k.winogradMinSide = 2 // the transforms at every size, not only where they pay
	cases := []struct{ c, f, n, h, w int }{
		{16, 16, 1, 4, 4},
		{16, 20, 2, 5, 7},
		{20, 24, 3, 9, 6},
		{32, 17, 4, 7, 7},
		{64, 64, 13, 14, 14}, // block 2 at 28×28, three chunks
		{64, 64, 60, 7, 7},   // block 3
	}
	for _, tc := range cases {
		if !k.Winograd(tc.c, tc.h, tc.w) || !k.Winograd(tc.f, tc.h, tc.w) {
			t.Fatalf("%+v: not a Winograd shape; the test would compare im2col with itself", tc)
		}
		rng := rand.New(rand.NewPCG(uint64(tc.c*1000+tc.h*10+tc.n), 9))
		x := randVec(rng, tc.c*tc.n*tc.h*tc.w, 1)
		w := randVec(rng, tc.f*tc.c*9, 0.3)
		dy := randVec(rng, tc.f*tc.n*tc.h*tc.w, 1)

		y0, dx0, dw0 := convPasses(k, false, x, w, dy, tc.c, tc.n, tc.h, tc.w, tc.f)
		y1, dx1, dw1 := convPasses(k, true, x, w, dy, tc.c, tc.n, tc.h, tc.w, tc.f)
		for _, p := range []struct {
			name      string
			got, want []float64
		}{{"y", y1, y0}, {"dx", dx1, dx0}, {"dw", dw1, dw0}} {
			if e := relErr(p.got, p.want); !(e <= 1e-12) {
				t.Errorf("%+v float64 %s: Winograd off by %.3g of scale, want ≤ 1e-12", tc, p.name, e)
			}
		}

		x32, w32, dy32 := toF32(x), toF32(w), toF32(dy)
		ys, dxs, dws := convPasses(k, true, x32, w32, dy32, tc.c, tc.n, tc.h, tc.w, tc.f)
		for _, p := range []struct {
			name string
			got  []float32
			want []float64
		}{{"y", ys, y0}, {"dx", dxs, dx0}, {"dw", dws, dw0}} {
			if e := relErr(toF64(p.got), p.want); !(e <= 2e-6) {
				t.Errorf("%+v float32 %s: Winograd off by %.3g of scale, want ≤ 2e-6", tc, p.name, e)
			}
		}
	}
}

// TestWinogradSIMDMatchesGoBitForBit runs the float32 Winograd passes
// with the AVX2 transforms, the AVX-512 plane transforms (images up to 14
// wide) and their Go twins, on random data with
// exact ties and zeros of both signs, over rows of tiles narrower than,
// as wide as and wider than one 8-tile block: the bits must agree.
func TestWinogradSIMDMatchesGoBitForBit(t *testing.T) {
	if !simd.Available {
		t.Skip("no AVX2 on this CPU: only the Go transforms run here")
	}
	k := New(1)
	k.winogradMinSide = 1
	cases := []struct{ c, f, n, h, w int }{
		{16, 16, 3, 4, 4},   // 2 tiles a row
		{16, 16, 2, 5, 1},   // 1
		{16, 16, 2, 3, 9},   // 5, odd height
		{16, 20, 2, 7, 13},  // 7
		{16, 16, 2, 16, 16}, // 8
		{20, 16, 2, 9, 21},  // 11: overlapping blocks
		{64, 64, 9, 14, 14},
	}
	for _, tc := range cases {
		if !k.Winograd(tc.c, tc.h, tc.w) || !k.Winograd(tc.f, tc.h, tc.w) {
			t.Fatalf("%+v: not a Winograd shape", tc)
		}
		rng := rand.New(rand.NewPCG(uint64(tc.h*100+tc.w), 11))
		x := tieData(rng, tc.c*tc.n*tc.h*tc.w)
		w := tieData(rng, tc.f*tc.c*9)
		dy := tieData(rng, tc.f*tc.n*tc.h*tc.w)
		var goY, goDx, goDw []float32
		kGo := *k
		kGo.simd = false
		goY, goDx, goDw = convPasses(&kGo, true, x, w, dy, tc.c, tc.n, tc.h, tc.w, tc.f)
		for _, kind := range []string{"AVX2", "AVX-512"} {
			if kind == "AVX-512" && (!simd.Available512 || tc.w > 14) {
				continue
			}
			kAsm := *k
			kAsm.simd, kAsm.simd512 = true, kind == "AVX-512"
			asmY, asmDx, asmDw := convPasses(&kAsm, true, x, w, dy, tc.c, tc.n, tc.h, tc.w, tc.f)
			for _, p := range []struct {
				name     string
				asm, ref []float32
			}{{"y", asmY, goY}, {"dx", asmDx, goDx}, {"dw", asmDw, goDw}} {
				for i := range p.ref {
					if math.Float32bits(p.asm[i]) != math.Float32bits(p.ref[i]) {
						t.Errorf("%+v %s %s[%d]: %v (%#x), Go %v (%#x)", tc, kind, p.name, i,
							p.asm[i], math.Float32bits(p.asm[i]), p.ref[i], math.Float32bits(p.ref[i]))
						break
					}
				}
			}
		}
	}
}

// TestWinogradPolicy pins which convolutions take the Winograd path: not
// the one-channel input, not images under 4 pixels a side.
func TestWinogradPolicy(t *testing.T) {
	cases := []struct {
		c, h, w int
		want    bool
	}{
		{1, 28, 28, false},
		{64, 14, 14, true},
		{64, 7, 7, true},
		{64, 4, 4, true},
		{64, 3, 3, false},
		{15, 14, 14, false},
		{64, 3, 14, false},
	}
	for _, tc := range cases {
		if got := New(1).Winograd(tc.c, tc.h, tc.w); got != tc.want {
			t.Errorf("winograd(%d, %d, %d) = %v, want %v", tc.c, tc.h, tc.w, got, tc.want)
		}
	}
}

// BenchmarkConvLayers times the forward and weight-gradient products of
// each block at batch 60, 28×28 input, with im2col and (where it applies)
// Winograd, float32, on the calling goroutine. The input gradient costs
// what the forward does.
func BenchmarkWinoChunk(b *testing.B) {
	UseBLAS()
	c, n, f, side := 64, 60, 64, 14
	rng := rand.New(rand.NewPCG(1, 2))
	x := toF32(randVec(rng, c*n*side*side, 1))
	w := toF32(randVec(rng, f*c*9, 0.3))
	dy := toF32(randVec(rng, f*n*side*side, 1))
	y, dw := make([]float32, len(dy)), make([]float32, len(w))
	for _, cv := range []int{1 << 15, 1 << 16, 1 << 17, 1 << 18} {
		k := New(1)
		k.winoChunkValues = cv
		b.Run(fmt.Sprintf("%d/forward", cv), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				ConvForward(k, x, w, y, c, n, side, side, f)
			}
		})
		b.Run(fmt.Sprintf("%d/gradW", cv), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				ConvGradW(k, x, dy, dw, c, n, side, side, f)
			}
		})
	}
}

func BenchmarkConvLayers(b *testing.B) {
	UseBLAS()
	for _, l := range []struct {
		name    string
		c, side int
	}{{"block1", 1, 28}, {"block2", 64, 14}, {"block3", 64, 7}, {"block4", 64, 3}} {
		c, n, f := l.c, 60, 64
		rng := rand.New(rand.NewPCG(1, 2))
		x := toF32(randVec(rng, c*n*l.side*l.side, 1))
		w := toF32(randVec(rng, f*c*9, 0.3))
		dy := toF32(randVec(rng, f*n*l.side*l.side, 1))
		y, dw := make([]float32, len(dy)), make([]float32, len(w))
		for _, wino := range []bool{false, true} {
			k := New(1)
			k.useWinograd = wino
			if wino && !k.Winograd(c, l.side, l.side) {
				continue
			}
			name := l.name + "/im2col"
			if wino {
				name = l.name + "/winograd"
			}
			b.Run(name+"/forward", func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					ConvForward(k, x, w, y, c, n, l.side, l.side, f)
				}
			})
			b.Run(name+"/gradW", func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					ConvGradW(k, x, dy, dw, c, n, l.side, l.side, f)
				}
			})
		}
	}
}
