package cpu

import (
	"gonum.org/v1/gonum/blas"
)

// 3×3 convolution (pad 1, stride 1, no bias). Activations
// are laid out [C N H W] (channel major), so the patch matrix of images
// b0..b1-1, col = [C·9, (b1−b0)·H·W], turns the convolution of those
// images into one gemm whose result lands in place in the [F N H W]
// output: y[:, b0·H·W:] = W[F, C·9]·col, with row stride N·H·W. The batch
// is cut into chunks of whole images, about chunkValues patch-matrix
// values each, so each patch matrix stays in the core's L2 cache between
// im2col writing it and gemm reading it, and chunks can run on several
// goroutines (Kernels.parallelFor).
//
// All three products have that shape:
//   - forward: y = W·im2col(x);
//   - input gradient: dx = W̃·im2col(dy), a convolution of dy with the
//     filters flipped in space and transposed in channels (W̃[c][f,2−ky,2−kx]
//     = W[f][c][ky,kx]): stride 1 and pad 1 make the transpose of the
//     convolution another one, with no scatter-adding col2im;
//   - weight gradient: dW = Σ over chunks of dy_chunk·im2col(x_chunk)ᵀ,
//     each chunk's product into its own partial, summed in chunk order.
//
// The chunks depend only on the shapes and every sum runs in a fixed
// order, so results do not depend on how many goroutines compute them.

// chunkValues is the patch-matrix size a chunk aims at: 2^18 float32
// values are 1 MB, inside a 2 MB L2 (576 rows × 455 columns for 64
// channels in, 9 rows × 29,127 columns for the one-channel input).
const chunkValues = 1 << 18

// minChunks is how many pieces, at least, a batch of that many images is
// cut into, so that a step's small layers (the one-channel input, the
// 3×3 block 4) still spread over a few threads.
const minChunks = 4

// chunking returns the images per chunk and the number of chunks for n
// images of hw pixels and k patch rows: about chunkValues values each,
// and at least min(n, minChunks) chunks.
func chunking(n, hw, k int) (per, chunks int) {
	per = max(1, min(n, chunkValues/(k*hw), (n+minChunks-1)/minChunks))
	return per, (n + per - 1) / per
}

// gemm computes c = a·b (+ c if accumulate) with row-major operands,
// optionally transposed, through the BLAS in use (OpenBLAS when found,
// else gonum; see UseBLAS).
func gemm[T Float](transA, transB bool, m, n, k int, a []T, lda int, b []T, ldb int, accumulate bool, c []T, ldc int) {
	ta, tb := blas.NoTrans, blas.NoTrans
	if transA {
		ta = blas.Trans
	}
	if transB {
		tb = blas.Trans
	}
	switch cs := any(c).(type) {
	case []float32:
		var beta float32
		if accumulate {
			beta = 1
		}
		impl.Sgemm(ta, tb, m, n, k, 1, any(a).([]float32), lda, any(b).([]float32), ldb, beta, cs, ldc)
	case []float64:
		var beta float64
		if accumulate {
			beta = 1
		}
		impl.Dgemm(ta, tb, m, n, k, 1, any(a).([]float64), lda, any(b).([]float64), ldb, beta, cs, ldc)
	}
}

// im2col writes the patch matrix of images b0..b1-1 of x [C N H W]
// (n images in all) into col [C·9, (b1−b0)·H·W]: row ch·9 + ky·3 + kx
// holds x[ch][b][y+ky−1][x+kx−1], zero outside the image. Each row is one
// shifted copy of the chunk's channel plane, then its wrapped and
// out-of-image pixels are zeroed.
func im2col[T Float](x, col []T, c, n, h, w, b0, b1 int) {
	hw := h * w
	cols := (b1 - b0) * hw
	for ch := 0; ch < c; ch++ {
		src := x[(ch*n+b0)*hw : (ch*n+b1)*hw]
		for ky := 0; ky < 3; ky++ {
			for kx := 0; kx < 3; kx++ {
				row := col[(ch*9+ky*3+kx)*cols : (ch*9+ky*3+kx+1)*cols]
				// row[i] = src[i+shift] as one flat copy across the chunk
				shift := (ky-1)*w + kx - 1
				lo, hi := max(0, -shift), min(cols, cols-shift)
				copy(row[lo:hi], src[lo+shift:hi+shift])
				for b := 0; b < b1-b0; b++ {
					img := row[b*hw : (b+1)*hw]
					switch ky { // rows that read above or below the image
					case 0:
						clear(img[:w])
					case 2:
						clear(img[hw-w:])
					}
					switch kx { // columns that read left or right of it
					case 0:
						for y := 0; y < hw; y += w {
							img[y] = 0
						}
					case 2:
						for y := w - 1; y < hw; y += w {
							img[y] = 0
						}
					}
				}
				clear(row[:lo])
				clear(row[hi:])
			}
		}
	}
}

// ConvForward writes y [F N H W] = conv(x [C N H W], w [F C 3 3]), pad 1,
// stride 1, no bias, computing on k's threads. The bits depend on the
// shapes and k's kernel set, never on k's thread count.
func ConvForward[T Float](k *Kernels, x, w, y []T, c, n, h, wd, f int) {
	if k.Winograd(c, h, wd) {
		winoForward(k, x, w, y, c, n, h, wd, f)
		return
	}
	if x32, ok := any(x).([]float32); ok && k.direct1(c) {
		conv1Forward(k, x32, any(w).([]float32), any(y).([]float32), n, h, wd, f)
		return
	}
	hw, kr := h*wd, c*9
	per, chunks := chunking(n, hw, kr)
	k.parallelFor(chunks, func(_, i int) {
		b0, b1 := i*per, min(n, (i+1)*per)
		cols := (b1 - b0) * hw
		colp := getScratch[T](kr * cols)
		defer putScratch(colp)
		im2col(x, *colp, c, n, h, wd, b0, b1)
		gemm(false, false, f, cols, kr, w, kr, *colp, cols, false, y[b0*hw:], n*hw)
	})
}

// ConvGradX writes dx [C N H W], the input gradient of y = conv(x, w)
// for w [F C 3 3] given dy [F N H W]: conv(dy, W̃) with W̃ the filters
// flipped in space and transposed in channels (see the top of this file).
func ConvGradX[T Float](k *Kernels, w, dy, dx []T, f, c, n, h, wd int) {
	wfp := getScratch[T](c * f * 9)
	defer putScratch(wfp)
	wf := *wfp
	for fi := 0; fi < f; fi++ {
		for ci := 0; ci < c; ci++ {
			for t := 0; t < 9; t++ {
				wf[ci*f*9+fi*9+8-t] = w[(fi*c+ci)*9+t]
			}
		}
	}
	ConvForward(k, dy, wf, dx, f, n, h, wd, c)
}

// ConvGradW writes dw [F C 3 3], the weight gradient of y = conv(x, w)
// for x [C N H W] given dy [F N H W]: Σ over chunks of
// dy_chunk·im2col(x_chunk)ᵀ, the chunks' products summed in chunk order.
func ConvGradW[T Float](k *Kernels, x, dy, dw []T, c, n, h, wd, f int) {
	if k.Winograd(c, h, wd) {
		winoGradW(k, x, dy, dw, c, n, h, wd, f)
		return
	}
	if x32, ok := any(x).([]float32); ok && k.direct1(c) {
		conv1GradW(k, x32, any(dy).([]float32), any(dw).([]float32), n, h, wd, f)
		return
	}
	hw, kr := h*wd, c*9
	per, chunks := chunking(n, hw, kr)
	partp := getScratch[T](chunks * f * kr)
	defer putScratch(partp)
	part := *partp
	k.parallelFor(chunks, func(_, i int) {
		b0, b1 := i*per, min(n, (i+1)*per)
		cols := (b1 - b0) * hw
		colp := getScratch[T](kr * cols)
		defer putScratch(colp)
		im2col(x, *colp, c, n, h, wd, b0, b1)
		gemm(false, true, f, kr, cols, dy[b0*hw:], n*hw, *colp, cols, false, part[i*f*kr:(i+1)*f*kr], kr)
	})
	sumParts(dw, part, chunks)
}

// sumParts writes dst = the sum of the parts len(dst) values long at the
// head of part, added in order: the fixed order that makes a chunked
// reduction give the same bits however many goroutines computed the parts.
func sumParts[T Float](dst, part []T, parts int) {
	n := len(dst)
	copy(dst, part[:n])
	for i := 1; i < parts; i++ {
		for j, v := range part[i*n : (i+1)*n] {
			dst[j] += v
		}
	}
}
