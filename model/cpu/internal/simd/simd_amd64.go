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

// WinoIn8 computes the Winograd input transform Bᵀ d B of 8 tiles side
// by side: row r of their padded input has its even columns at pe+r·rs
// and its odd ones at po+r·rs (9 values each are read); the 16 values of
// each tile go to the 16 planes dst + ξ·ds (8 each).
//
//go:noescape
func WinoIn8(pe, po *float32, rs int, dst *float32, ds int)

// WinoOut8 computes the Winograd output transform Aᵀ M A of 8 tiles from
// the 16 planes m + ξ·ms; the even and odd columns of output row 0 go to
// y and y+ys, those of row 1 to y+2ys and y+3ys (8 each).
//
//go:noescape
func WinoOut8(m *float32, ms int, y *float32, ys int)

// Available512 says whether this CPU runs the AVX-512 plane kernels.
var Available512 = cpu.X86.HasAVX512F

// WinoInPlane computes simd.WinoIn8's transform for every tile of one
// h×w plane at x (pad 1, 1 ≤ w ≤ 14, h ≥ 1): tile t = ty·⌈w/2⌉ + tx to
// dst + ξ·ds + t. AVX-512.
//
//go:noescape
func WinoInPlane(x *float32, h, w int, dst *float32, ds int)

// WinoOutPlane computes WinoOut8's transform for every tile of one h×w
// output plane (1 ≤ w ≤ 14) from m + ξ·ms + t and writes the plane to y,
// cropped. AVX-512.
//
//go:noescape
func WinoOutPlane(m *float32, ms int, y *float32, h, w int)

// Conv1Fwd computes one segment (≤16 columns) of one output row of a 3×3
// convolution of a one-channel image, for f filters w [f][9]: x0, x1, x2
// point at the segment's first column in input rows r−1, r, r+1; masks
// packs the lanes whose columns −1, 0 and +1 are inside the image (16 bits
// each, the middle one also says which outputs to store); filter fi's
// output goes to y + fi·ys. AVX-512.
//
//go:noescape
func Conv1Fwd(x0, x1, x2 *float32, masks uint64, w *float32, f int, y *float32, ys int)

// Conv1GradW adds, lane by lane, dy·X_k over one h×w plane to
// acc[16k:16k+16] for the nine shifted inputs X_k of a 3×3 convolution of
// a one-channel image x (see model's conv1.go). AVX-512.
//
//go:noescape
func Conv1GradW(x, dy *float32, h, w int, masks *uint64, zero *float32, acc *[144]float32)

// WinoOutTGather computes the weight-gradient output transform of tile
// row ty of one image for 16 filters at once, tile-major: gr is the first
// filter's h×w plane, filter l's plane idx[l] values after it; tile tx's
// value ξ for the 16 filters goes to dst + ξ·ds + tx·dt. AVX-512.
//
//go:noescape
func WinoOutTGather(gr *float32, idx *[16]int32, h, w, ty int, dst *float32, ds, dt int)
