package model

import (
	"fmt"

	"github.com/chewxy/hm"
	"gonum.org/v1/gonum/blas"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// 3×3 convolution (pad 1, stride 1, no bias) as Gorgonia ops. Activations
// are laid out [C N H W] (channel major), so the patch matrix of images
// b0..b1-1, col = [C·9, (b1−b0)·H·W], turns the convolution of those
// images into one gemm whose result lands in place in the [F N H W]
// output: y[:, b0·H·W:] = W[F, C·9]·col, with row stride N·H·W. The batch
// is cut into chunks of whole images, about chunkValues patch-matrix
// values each, so each patch matrix stays in the core's L2 cache between
// im2col writing it and gemm reading it, and chunks can run on several
// goroutines (parallelFor).
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
// else gonum; see useBLAS).
func gemm[T float](transA, transB bool, m, n, k int, a []T, lda int, b []T, ldb int, accumulate bool, c []T, ldc int) {
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
		G.WhichBLAS().Sgemm(ta, tb, m, n, k, 1, any(a).([]float32), lda, any(b).([]float32), ldb, beta, cs, ldc)
	case []float64:
		var beta float64
		if accumulate {
			beta = 1
		}
		G.WhichBLAS().Dgemm(ta, tb, m, n, k, 1, any(a).([]float64), lda, any(b).([]float64), ldb, beta, cs, ldc)
	}
}

// im2col writes the patch matrix of images b0..b1-1 of x [C N H W]
// (n images in all) into col [C·9, (b1−b0)·H·W]: row ch·9 + ky·3 + kx
// holds x[ch][b][y+ky−1][x+kx−1], zero outside the image. Each row is one
// shifted copy of the chunk's channel plane, then its wrapped and
// out-of-image pixels are zeroed.
func im2col[T float](x, col []T, c, n, h, w, b0, b1 int) {
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

// convOp: (x [C N H W], w [F C 3 3]) → y [F N H W]. With input set, x is
// the network's input and gets no gradient.
type convOp struct {
	opBase
	input bool
	out   *outBuf
}

func newConvOp(input bool) convOp {
	name := "conv3x3"
	if input {
		name = "conv3x3/input"
	}
	return convOp{opBase{name}, input, new(outBuf)}
}

func (convOp) Arity() int    { return 2 }
func (convOp) Type() hm.Type { return hm.NewFnType(tensorType(4), tensorType(4), tensorType(4)) }
func (o convOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	xs, ws, err := shape44(o.name, in)
	if err != nil {
		return nil, err
	}
	if ws[1] != xs[0] || ws[2] != 3 || ws[3] != 3 {
		return nil, fmt.Errorf("%s: filters %v do not fit input %v", o.name, ws, xs)
	}
	return tensor.Shape{ws[0], xs[1], xs[2], xs[3]}, nil
}

func (o convOp) Do(vs ...G.Value) (G.Value, error) {
	ins, err := dense(vs, 2)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.name, err)
	}
	xs, ws := ins[0].Shape(), ins[1].Shape()
	shape, err := o.InferShape(xs, ws)
	if err != nil {
		return nil, err
	}
	return dispatch(ins, shape, o.out,
		func(in [][]float32, out []float32) { convForward(in[0], in[1], out, xs, ws[0]) },
		func(in [][]float64, out []float64) { convForward(in[0], in[1], out, xs, ws[0]) })
}

// convForward writes y [F N H W] = conv(x [C N H W], w [F C 3 3]).
func convForward[T float](x, w, y []T, xs tensor.Shape, f int) {
	c, n, h, wd := xs[0], xs[1], xs[2], xs[3]
	if winograd(c, h, wd) {
		winoForward(x, w, y, c, n, h, wd, f)
		return
	}
	if x32, ok := any(x).([]float32); ok && direct1(c) {
		conv1Forward(x32, any(w).([]float32), any(y).([]float32), n, h, wd, f)
		return
	}
	hw, k := h*wd, c*9
	per, chunks := chunking(n, hw, k)
	parallelFor(chunks, func(_, i int) {
		b0, b1 := i*per, min(n, (i+1)*per)
		cols := (b1 - b0) * hw
		colp := getScratch[T](k * cols)
		defer putScratch(colp)
		im2col(x, *colp, c, n, h, wd, b0, b1)
		gemm(false, false, f, cols, k, w, k, *colp, cols, false, y[b0*hw:], n*hw)
	})
}

func (o convOp) DiffWRT(int) []bool { return []bool{!o.input, true} }
func (o convOp) SymDiff(in G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	dw, err := G.ApplyOp(convGradWOp{opBase{"convGradW"}, new(outBuf)}, in[0], grad)
	if err != nil {
		return nil, err
	}
	if o.input {
		return G.Nodes{nil, dw}, nil
	}
	dx, err := G.ApplyOp(convGradXOp{opBase{"convGradX"}, new(outBuf)}, in[1], grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx, dw}, nil
}

// convGradXOp: (w [F C 3 3], dy [F N H W]) → dx [C N H W].
type convGradXOp struct {
	opBase
	out *outBuf
}

func (convGradXOp) Arity() int    { return 2 }
func (convGradXOp) Type() hm.Type { return hm.NewFnType(tensorType(4), tensorType(4), tensorType(4)) }
func (o convGradXOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	ws, ds, err := shape44(o.name, in)
	if err != nil {
		return nil, err
	}
	return tensor.Shape{ws[1], ds[1], ds[2], ds[3]}, nil
}

func (o convGradXOp) Do(vs ...G.Value) (G.Value, error) {
	ins, err := dense(vs, 2)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.name, err)
	}
	ws, ds := ins[0].Shape(), ins[1].Shape()
	shape, _ := o.InferShape(ws, ds)
	return dispatch(ins, shape, o.out,
		func(in [][]float32, out []float32) { convGradX(in[0], in[1], out, ws, ds) },
		func(in [][]float64, out []float64) { convGradX(in[0], in[1], out, ws, ds) })
}

// convGradX writes dx = conv(dy, W̃) with W̃ the filters flipped in space
// and transposed in channels (see the top of this file).
func convGradX[T float](w, dy, dx []T, ws, ds tensor.Shape) {
	f, c, n, h, wd := ws[0], ws[1], ds[1], ds[2], ds[3]
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
	convForward(dy, wf, dx, tensor.Shape{f, n, h, wd}, c)
}

// convGradWOp: (x [C N H W], dy [F N H W]) → dw [F C 3 3].
type convGradWOp struct {
	opBase
	out *outBuf
}

func (convGradWOp) Arity() int    { return 2 }
func (convGradWOp) Type() hm.Type { return hm.NewFnType(tensorType(4), tensorType(4), tensorType(4)) }
func (o convGradWOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	xs, ds, err := shape44(o.name, in)
	if err != nil {
		return nil, err
	}
	return tensor.Shape{ds[0], xs[0], 3, 3}, nil
}

func (o convGradWOp) Do(vs ...G.Value) (G.Value, error) {
	ins, err := dense(vs, 2)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.name, err)
	}
	xs, ds := ins[0].Shape(), ins[1].Shape()
	shape, _ := o.InferShape(xs, ds)
	return dispatch(ins, shape, o.out,
		func(in [][]float32, out []float32) { convGradW(in[0], in[1], out, xs, ds[0]) },
		func(in [][]float64, out []float64) { convGradW(in[0], in[1], out, xs, ds[0]) })
}

// convGradW writes dw = Σ over chunks of dy_chunk·im2col(x_chunk)ᵀ, the
// chunks' products summed in chunk order.
func convGradW[T float](x, dy, dw []T, xs tensor.Shape, f int) {
	c, n, h, wd := xs[0], xs[1], xs[2], xs[3]
	if winograd(c, h, wd) {
		winoGradW(x, dy, dw, c, n, h, wd, f)
		return
	}
	if x32, ok := any(x).([]float32); ok && direct1(c) {
		conv1GradW(x32, any(dy).([]float32), any(dw).([]float32), n, h, wd, f)
		return
	}
	hw, k := h*wd, c*9
	per, chunks := chunking(n, hw, k)
	partp := getScratch[T](chunks * f * k)
	defer putScratch(partp)
	part := *partp
	parallelFor(chunks, func(_, i int) {
		b0, b1 := i*per, min(n, (i+1)*per)
		cols := (b1 - b0) * hw
		colp := getScratch[T](k * cols)
		defer putScratch(colp)
		im2col(x, *colp, c, n, h, wd, b0, b1)
		gemm(false, true, f, k, cols, dy[b0*hw:], n*hw, *colp, cols, false, part[i*f*k:(i+1)*f*k], k)
	})
	sumParts(dw, part, chunks)
}

// sumParts writes dst = the sum of the parts len(dst) values long at the
// head of part, added in order: the fixed order that makes a chunked
// reduction give the same bits however many goroutines computed the parts.
func sumParts[T float](dst, part []T, parts int) {
	n := len(dst)
	copy(dst, part[:n])
	for i := 1; i < parts; i++ {
		for j, v := range part[i*n : (i+1)*n] {
			dst[j] += v
		}
	}
}
