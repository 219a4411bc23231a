package cpu

import "github.com/fsl-project/fsl/model/cpu/internal/simd"

// Direct 3×3 convolution of a one-channel input (the network's first
// layer), float32 on CPUs with AVX-512. im2col turns it into gemms with
// only nine patch rows, which OpenBLAS runs at about 20 GFLOP/s here: the
// forward and the weight gradient of block 1 took 5.6 ms of a 60-image
// step. The kernels (internal/simd Conv1Fwd, Conv1GradW) work on 16
// output columns per register:
//
//   - forward: for each row segment, the nine shifted input vectors are
//     loaded once (masked: the padding reads zero), then every filter's
//     output is ((…(w0·X0 + w1·X1) + …) + w8·X8), products and sums
//     rounded separately;
//   - weight gradient: per filter, nine lane-wise accumulators add dy·X_k
//     over the rows and segments of each image of a chunk in order; the
//     16 lanes are then summed in a fixed tree (reduce16) and the chunks'
//     partial sums added in chunk order.
//
// Chunks depend on the shapes only, so the bits do not depend on the
// number of threads. conv1_test.go holds the same arithmetic in Go and
// checks the assembly against it bit for bit. Elsewhere (no AVX-512,
// float64) the im2col path runs, whose bits differ — as OpenBLAS's own
// kernels already differ between CPU generations.

// direct1 reports whether a convolution with c input channels takes the
// direct path.
func (k *Kernels) direct1(c int) bool { return c == 1 && k.simd && k.simd512 }

// conv1Masks packs the lane masks of segment s (columns 16s..16s+15) of a
// row of w columns: bit l of the k-th 16 bits is set when column
// 16s+l+k−1 lies in [0, w), for k = 0, 1, 2 (the middle mask also marks
// the outputs to store).
func conv1Masks(s, w int) uint64 {
	var m [3]uint64
	for l := 0; l < 16; l++ {
		for k := 0; k < 3; k++ {
			if c := 16*s + l + k - 1; c >= 0 && c < w {
				m[k] |= 1 << l
			}
		}
	}
	return m[0] | m[1]<<16 | m[2]<<32
}

// conv1Zero returns zeros that stand for input rows outside the image:
// reads go up to 16 values past a segment start (the pointer is taken one
// past the first zero).
func conv1Zero(w int) []float32 { return make([]float32, 16*((w+15)/16)+32) }

// conv1Forward writes y [F N H W] = conv(x [1 N H W], w [F 1 3 3]).
func conv1Forward(k *Kernels, x, w, y []float32, n, h, wd, f int) {
	segs := (wd + 15) / 16
	masks := make([]uint64, segs)
	for s := range masks {
		masks[s] = conv1Masks(s, wd)
	}
	zero := conv1Zero(wd)
	hw := h * wd
	per, chunks := chunking(n, hw, 9)
	k.parallelFor(chunks, func(_, i int) {
		for b := i * per; b < min(n, (i+1)*per); b++ {
			plane := x[b*hw : (b+1)*hw]
			row := func(r int) []float32 {
				if r < 0 || r >= h {
					return zero[1:]
				}
				return plane[r*wd:]
			}
			for r := 0; r < h; r++ {
				r0, r1, r2 := row(r-1), row(r), row(r+1)
				for s := 0; s < segs; s++ {
					simd.Conv1Fwd(&r0[16*s], &r1[16*s], &r2[16*s], masks[s], &w[0], f, &y[b*hw+r*wd+16*s], n*hw)
				}
			}
		}
	})
}

// conv1GradW writes dw [F 1 3 3], the weight gradient of y = conv(x, w)
// for a one-channel x [1 N H W], given dy [F N H W].
func conv1GradW(k *Kernels, x, dy, dw []float32, n, h, wd, f int) {
	segs := (wd + 15) / 16
	masks := make([]uint64, 8*segs) // 64 bytes apart, as the kernel reads them
	for s := 0; s < segs; s++ {
		masks[8*s] = conv1Masks(s, wd)
	}
	zero := conv1Zero(wd)
	hw := h * wd
	per, chunks := chunking(n, hw, 9)
	partp := getScratch[float32](chunks * f * 9)
	defer putScratch(partp)
	part := *partp
	k.parallelFor(chunks, func(_, i int) {
		var acc [144]float32
		for fi := 0; fi < f; fi++ {
			clear(acc[:])
			for b := i * per; b < min(n, (i+1)*per); b++ {
				simd.Conv1GradW(&x[b*hw], &dy[(fi*n+b)*hw], h, wd, &masks[0], &zero[1], &acc)
			}
			for k := 0; k < 9; k++ {
				part[(i*f+fi)*9+k] = reduce16(acc[16*k : 16*k+16])
			}
		}
	})
	sumParts(dw[:f*9], part, chunks)
}

// reduce16 sums 16 lanes in a fixed tree: lane i with i+8, then i+4, i+2
// and i+1.
func reduce16(a []float32) float32 {
	var t [8]float32
	for i := range t {
		t[i] = a[i] + a[i+8]
	}
	for i := 0; i < 4; i++ {
		t[i] += t[i+4]
	}
	t[0], t[1] = t[0]+t[2], t[1]+t[3]
	return t[0] + t[1]
}
