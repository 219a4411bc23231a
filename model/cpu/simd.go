package cpu

import (
	"math"

	"github.com/fsl-project/fsl/model/cpu/internal/simd"
)

// The float32 window kernels of the fused batch-norm/ReLU/pooling ops and
// the channel sums of batch norm, each in two versions that give the same
// bits: AVX2 assembly (internal/simd) for whole blocks of 8 windows or 8
// values where the CPU has it, and Go for the rest and elsewhere. A row
// of windows not a multiple of 8 wide is covered by overlapping its last
// block with the one before (the kernels write, never accumulate, so
// recomputing a window writes the same values). The assembly's max of
// two values returns the second when they compare equal, Go's max +0 for
// ±0: they differ only for NaN inputs.

// channelSums32 returns Σ v and Σ v² in float64: eight lanes (element i
// in lane i mod 8) summed in a fixed tree, then the tail in order.
func (k *Kernels) channelSums32(v []float32) (sum, sq float64) {
	var acc [16]float64
	blocks := len(v) / 8
	if k.simd && blocks > 0 {
		simd.StatsLanes(&v[0], blocks, &acc)
	} else {
		for b := 0; b < blocks; b++ {
			for l, e := range v[8*b : 8*b+8] {
				f := float64(e)
				acc[l] += f
				acc[8+l] += f * f
			}
		}
	}
	sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
	sq = ((acc[8] + acc[9]) + (acc[10] + acc[11])) + ((acc[12] + acc[13]) + (acc[14] + acc[15]))
	for _, e := range v[8*blocks:] {
		f := float64(e)
		sum, sq = sum+f, sq+f*f
	}
	return sum, sq
}

// simdBlocks calls f(start) for blocks of 8 windows covering [0, n), the
// last one overlapping its predecessor when 8 does not divide n; n ≥ 8.
func simdBlocks(n int, f func(start int)) {
	for s := 0; s+8 <= n; s += 8 {
		f(s)
	}
	if n%8 != 0 {
		f(n - 8)
	}
}

// routePlanes writes, for the n planes of one channel (h×w each), every
// window's pooled output y = max(z at its first maximum, 0) and its routes
// (code and sel, n·(h/2)·(w/2) each; see routes), z = x·a + shift. Rows of
// at least 8 float32 windows run in assembly where the CPU has AVX2.
func routePlanes[T Float](k *Kernels, x, y []T, code []uint8, sel []T, n, h, w int, a, sh T) {
	oh, ow := h/2, w/2
	_, f32 := any(a).(float32)
	if total := n * oh * ow; f32 && k.simd && ow < 8 && total >= 8 {
		// rows of fewer than 8 windows: the channel's window rows staged
		// end to end, so the windows run in blocks of 8 across rows
		r0, r1 := stageWindowRows(any(x).([]float32), n, h, w)
		defer putScratch(r0)
		defer putScratch(r1)
		yf, sf := any(y).([]float32), any(sel).([]float32)
		af, shf := any(a).(float32), any(sh).(float32)
		simdBlocks(total, func(s int) {
			simd.Route(&(*r0)[2*s], &(*r1)[2*s], &yf[s], &code[s], &sf[s], 1, af, shf)
		})
		return
	}
	for p := 0; p < n; p++ {
		img := x[p*h*w : (p+1)*h*w]
		for oy := 0; oy < oh; oy++ {
			r0, r1 := img[2*oy*w:2*oy*w+2*ow], img[(2*oy+1)*w:(2*oy+1)*w+2*ow]
			o := (p*oh + oy) * ow
			yr, cr, sr := y[o:o+ow], code[o:o+ow], sel[o:o+ow]
			if f32 && k.simd && ow >= 8 {
				r0f, r1f := any(r0).([]float32), any(r1).([]float32)
				yf, sf := any(yr).([]float32), any(sr).([]float32)
				af, shf := any(a).(float32), any(sh).(float32)
				simdBlocks(ow, func(s int) {
					simd.Route(&r0f[2*s], &r1f[2*s], &yf[s], &cr[s], &sf[s], 1, af, shf)
				})
				continue
			}
			routeRow(r0, r1, yr, cr, sr, a, sh)
		}
	}
}

// routeRow is one row of windows of routePlanes in Go, without branches:
// the first maximum within each row of the window, then between them.
func routeRow[T Float](r0, r1, yr []T, cr []uint8, sr []T, a, sh T) {
	for ox := range yr {
		x0, x1, x2, x3 := r0[2*ox], r0[2*ox+1], r1[2*ox], r1[2*ox+1]
		z0, z1, z2, z3 := x0*a+sh, x1*a+sh, x2*a+sh, x3*a+sh
		i01, i23 := b2i(z1 > z0), 2+b2i(z3 > z2)
		m01, m23 := max(z0, z1), max(z2, z3)
		top := -b2i(m23 > m01)
		at := i01 ^ (i01^i23)&top
		m := max(m01, m23)
		cr[ox] = uint8(at | (b2i(!(m > 0)) << 2))
		xs := [4]T{x0, x1, x2, x3}
		sr[ox] = xs[at&3]
		yr[ox] = max(m, 0)
	}
}

// inputGradPlanes32 writes dx = x·p + q + k·dz over the n planes of one
// channel in one pass: dz is the window's gradient at its routed position
// (code < 4), zero elsewhere and in a dropped odd row or column.
func (ks *Kernels) inputGradPlanes32(x, dx []float32, code []uint8, g []float32, n, h, w int, p, q, k float32) {
	oh, ow := h/2, w/2
	if total := n * oh * ow; ks.simd && ow < 8 && total >= 8 {
		// rows of fewer than 8 windows: staged end to end as in routePlanes,
		// the gradient rows copied back after
		r0, r1 := stageWindowRows(x, n, h, w)
		d0, d1 := getScratch[float32](2*total), getScratch[float32](2*total)
		defer putScratch(r0)
		defer putScratch(r1)
		defer putScratch(d0)
		defer putScratch(d1)
		simdBlocks(total, func(s int) {
			simd.InputGrad(&(*r0)[2*s], &(*r1)[2*s], &(*d0)[2*s], &(*d1)[2*s], &code[s], &g[s], 1, p, q, k)
		})
		for pl := 0; pl < n; pl++ {
			for oy := 0; oy < oh; oy++ {
				o := 2 * (pl*oh + oy) * ow
				d := dx[pl*h*w+2*oy*w:]
				copy(d[:2*ow], (*d0)[o:o+2*ow])
				copy(d[w:w+2*ow], (*d1)[o:o+2*ow])
			}
		}
		inputGradDropped(x, dx, n, h, w, p, q)
		return
	}
	for pl := 0; pl < n; pl++ {
		img, d := x[pl*h*w:(pl+1)*h*w], dx[pl*h*w:(pl+1)*h*w]
		for oy := 0; oy < oh; oy++ {
			r0, r1 := img[2*oy*w:2*oy*w+2*ow], img[(2*oy+1)*w:(2*oy+1)*w+2*ow]
			d0, d1 := d[2*oy*w:2*oy*w+2*ow], d[(2*oy+1)*w:(2*oy+1)*w+2*ow]
			o := (pl*oh + oy) * ow
			cr, gr := code[o:o+ow], g[o:o+ow]
			if ks.simd && ow >= 8 {
				simdBlocks(ow, func(s int) {
					simd.InputGrad(&r0[2*s], &r1[2*s], &d0[2*s], &d1[2*s], &cr[s], &gr[s], 1, p, q, k)
				})
				continue
			}
			inputGradRow32(r0, r1, d0, d1, cr, gr, p, q, k)
		}
	}
	inputGradDropped(x, dx, n, h, w, p, q)
}

// inputGradDropped writes dx = x·p + q in the last column and row of each
// of the n h×w planes when w or h is odd: pixels no pooling window covers.
func inputGradDropped(x, dx []float32, n, h, w int, p, q float32) {
	oh := h / 2
	for pl := 0; pl < n; pl++ {
		img, d := x[pl*h*w:(pl+1)*h*w], dx[pl*h*w:(pl+1)*h*w]
		if w%2 == 1 { // the dropped last column
			for y := 0; y < 2*oh; y++ {
				d[y*w+w-1] = img[y*w+w-1]*p + q
			}
		}
		if h%2 == 1 { // the dropped last row
			for i := (h - 1) * w; i < h*w; i++ {
				d[i] = img[i]*p + q
			}
		}
	}
}

// stageWindowRows copies the 2×2 pooling windows of n h×w planes into two
// rows, end to end in window order (plane, window row, window): r0 holds
// each window's top pair of values, r1 its bottom pair, 2·n·⌊h/2⌋·⌊w/2⌋
// values each. Give both back with putScratch.
func stageWindowRows(x []float32, n, h, w int) (r0, r1 *[]float32) {
	oh, ow := h/2, w/2
	r0, r1 = getScratch[float32](2*n*oh*ow), getScratch[float32](2*n*oh*ow)
	for pl := 0; pl < n; pl++ {
		for oy := 0; oy < oh; oy++ {
			o := 2 * (pl*oh + oy) * ow
			src := x[pl*h*w+2*oy*w:]
			copy((*r0)[o:o+2*ow], src[:2*ow])
			copy((*r1)[o:o+2*ow], src[w:w+2*ow])
		}
	}
	return r0, r1
}

// inputGradRow32 is one row of windows of inputGradPlanes32 in Go: the
// routed position gets k·g, the others +0, without branches.
func inputGradRow32(r0, r1, d0, d1 []float32, cr []uint8, gr []float32, p, q, k float32) {
	for ox, cd := range cr {
		kg := k * gr[ox]
		at := int(cd)
		d0[2*ox] = r0[2*ox]*p + q + and32(kg, mask32(at == 0))
		d0[2*ox+1] = r0[2*ox+1]*p + q + and32(kg, mask32(at == 1))
		d1[2*ox] = r1[2*ox]*p + q + and32(kg, mask32(at == 2))
		d1[2*ox+1] = r1[2*ox+1]*p + q + and32(kg, mask32(at == 3))
	}
}

func and32(v float32, k uint32) float32 { return math.Float32frombits(math.Float32bits(v) & k) }
