package simd

import "golang.org/x/sys/cpu"

// Available says whether this CPU runs the kernels (AVX2).
var Available = cpu.X86.HasAVX2

// StatsLanes adds, for each of blocks blocks of 8 values at x, value l of
// the block to acc[l] and its square to acc[8+l], in float64; acc starts
// from zero.
//
//go:noescape
func StatsLanes(x *float32, blocks int, acc *[16]float64)

// Route computes 8·blocks 2×2 pooling windows whose rows start at r0 and
// r1 (16 values each per block): z = x·a + sh, y = max(z at the window's
// first maximum, 0), code = that position (0..3) plus 4 when the maximum
// is not positive, sel = x there.
//
//go:noescape
func Route(r0, r1, y *float32, code *uint8, sel *float32, blocks int, a, sh float32)

// InputGrad writes, for 8·blocks windows, d = x·p + q at all four
// positions, plus k·grad at the position code names (code < 4).
//
//go:noescape
func InputGrad(r0, r1, d0, d1 *float32, code *uint8, grad *float32, blocks int, p, q, k float32)
