package model

import (
	"fmt"
	"math"

	"github.com/chewxy/hm"
	"gonum.org/v1/gonum/blas"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// 3×3 convolution (pad 1, stride 1, no bias) and 2×2 max-pooling (stride
// 2, floor) as Gorgonia ops. Activations are laid out [C N H W] (channel
// major), so the patch matrix of the whole batch, col = [C·9, N·H·W]
// (image n in columns n·H·W...), makes each product one large gemm whose
// result is already in that layout: y = W[F, C·9]·col is [F N H W];
// dW = dy·colᵀ; dcol = Wᵀ·dy, then col2im. The products go through the
// BLAS Gorgonia uses (G.WhichBLAS: OpenBLAS in cgo builds).

// gemm computes c = a·b (+ c if accumulate) with row-major operands,
// optionally transposed, through Gorgonia's BLAS.
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

// im2col writes the [c·9, h·w] patch matrix of one image, whose channel
// planes of h·w values lie ps apart in x (ps = N·h·w in [C N H W]), into
// col with row stride ld: row ch·9 + ky·3 + kx holds x[ch][y+ky-1][x+kx-1],
// zero outside the image. Each row is one shifted copy of the channel
// plane plus zeroed borders.
func im2col[T float](x, col []T, c, h, w, ps, ld int) {
	hw := h * w
	for ch := 0; ch < c; ch++ {
		img := x[ch*ps : ch*ps+hw]
		for ky := 0; ky < 3; ky++ {
			// output rows y0..y1-1 read input rows y0+ky-1..
			y0, y1 := max(0, 1-ky), min(h, h+1-ky)
			for kx := 0; kx < 3; kx++ {
				row := col[(ch*9+ky*3+kx)*ld : (ch*9+ky*3+kx)*ld+hw]
				clear(row[:y0*w])
				clear(row[y1*w:])
				// dst[y*w+x] = img[(y+ky-1)*w + x+kx-1] as one flat shift
				shift := (ky-1)*w + kx - 1
				lo, hi := y0*w, y1*w
				if lo+shift < 0 {
					lo = -shift
				}
				if hi+shift > hw {
					hi = hw - shift
				}
				copy(row[lo:hi], img[lo+shift:hi+shift])
				// the flat shift wraps across rows at the left/right edge
				switch kx {
				case 0:
					for y := y0; y < y1; y++ {
						row[y*w] = 0
					}
				case 2:
					for y := y0; y < y1; y++ {
						row[y*w+w-1] = 0
					}
				}
			}
		}
	}
}

// col2im adds the patch-matrix gradient col [c·9, h·w] (row stride ld)
// back into one image's channel planes of dx (ps apart), the transpose of
// im2col.
func col2im[T float](col, dx []T, c, h, w, ps, ld int) {
	hw := h * w
	for ch := 0; ch < c; ch++ {
		img := dx[ch*ps : ch*ps+hw]
		for ky := 0; ky < 3; ky++ {
			for kx := 0; kx < 3; kx++ {
				row := col[(ch*9+ky*3+kx)*ld : (ch*9+ky*3+kx)*ld+hw]
				for y := 0; y < h; y++ {
					yy := y + ky - 1
					if yy < 0 || yy >= h {
						continue
					}
					src := row[y*w : (y+1)*w]
					dst := img[yy*w : (yy+1)*w]
					switch kx {
					case 0:
						for x, v := range src[1:] {
							dst[x] += v
						}
					case 1:
						for x, v := range src {
							dst[x] += v
						}
					default:
						for x, v := range src[:w-1] {
							dst[x+1] += v
						}
					}
				}
			}
		}
	}
}

// convOp: (x [C N H W], w [F C 3 3]) → y [F N H W].
type convOp struct{ opBase }

func (convOp) Arity() int    { return 2 }
func (convOp) Type() hm.Type { return hm.NewFnType(tensorType(4), tensorType(4), tensorType(4)) }
func (o convOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	xs, err := shape4(o.name, in[0])
	if err != nil {
		return nil, err
	}
	ws, err := shape4(o.name, in[1])
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
	return dispatch(ins, shape,
		func(in [][]float32, out []float32) { convForward(in[0], in[1], out, xs, ws[0]) },
		func(in [][]float64, out []float64) { convForward(in[0], in[1], out, xs, ws[0]) })
}

// lowerBatch writes every image of x ([C N H W]) into one pooled scratch
// matrix [C·9, N·H·W], so a convolution over the batch is one gemm; the
// caller puts the scratch back. It returns the matrix, k = C·9 and its
// leading dimension N·H·W.
func lowerBatch[T float](x []T, xs tensor.Shape) (colp *[]T, k, ld int) {
	c, n, h, wd := xs[0], xs[1], xs[2], xs[3]
	hw := h * wd
	k, ld = c*9, n*hw
	colp = getScratch[T](k * ld)
	col := *colp
	for b := 0; b < n; b++ {
		im2col(x[b*hw:], col[b*hw:], c, h, wd, ld, ld)
	}
	return colp, k, ld
}

func convForward[T float](x, w, y []T, xs tensor.Shape, f int) {
	colp, k, ld := lowerBatch(x, xs)
	defer putScratch(colp)
	col := *colp
	gemm(false, false, f, ld, k, w, k, col, ld, false, y, ld) // y is [F, N·H·W]
}

func (convOp) DiffWRT(int) []bool { return []bool{true, true} }
func (o convOp) SymDiff(in G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	dx, err := G.ApplyOp(convGradXOp{opBase{"convGradX"}}, in[1], grad)
	if err != nil {
		return nil, err
	}
	dw, err := G.ApplyOp(convGradWOp{opBase{"convGradW"}}, in[0], grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx, dw}, nil
}

// convGradXOp: (w [F C 3 3], dy [F N H W]) → dx [C N H W].
type convGradXOp struct{ opBase }

func (convGradXOp) Arity() int    { return 2 }
func (convGradXOp) Type() hm.Type { return hm.NewFnType(tensorType(4), tensorType(4), tensorType(4)) }
func (o convGradXOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	ws, err := shape4(o.name, in[0])
	if err != nil {
		return nil, err
	}
	ds, err := shape4(o.name, in[1])
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
	return dispatch(ins, shape,
		func(in [][]float32, out []float32) { convGradX(in[0], in[1], out, ws, ds) },
		func(in [][]float64, out []float64) { convGradX(in[0], in[1], out, ws, ds) })
}

func convGradX[T float](w, dy, dx []T, ws, ds tensor.Shape) {
	f, c, n, h, wd := ws[0], ws[1], ds[1], ds[2], ds[3]
	hw, k, ld := h*wd, c*9, n*h*wd
	colp := getScratch[T](k * ld)
	defer putScratch(colp)
	col := *colp
	gemm(true, false, k, ld, f, w, k, dy, ld, false, col, ld)
	for b := 0; b < n; b++ {
		col2im(col[b*hw:], dx[b*hw:], c, h, wd, ld, ld) // dx is freshly zeroed
	}
}

// convGradWOp: (x [C N H W], dy [F N H W]) → dw [F C 3 3].
type convGradWOp struct{ opBase }

func (convGradWOp) Arity() int    { return 2 }
func (convGradWOp) Type() hm.Type { return hm.NewFnType(tensorType(4), tensorType(4), tensorType(4)) }
func (o convGradWOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	xs, err := shape4(o.name, in[0])
	if err != nil {
		return nil, err
	}
	ds, err := shape4(o.name, in[1])
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
	return dispatch(ins, shape,
		func(in [][]float32, out []float32) { convGradW(in[0], in[1], out, xs, ds[0]) },
		func(in [][]float64, out []float64) { convGradW(in[0], in[1], out, xs, ds[0]) })
}

func convGradW[T float](x, dy, dw []T, xs tensor.Shape, f int) {
	colp, k, ld := lowerBatch(x, xs)
	defer putScratch(colp)
	col := *colp
	gemm(false, true, f, k, ld, dy, ld, col, ld, false, dw, k)
}

// poolOp: 2×2 max-pooling with stride 2 of every H×W plane, x [A B H W]
// → [A B H/2 W/2]
// (floor: an odd last row or column is dropped).
type poolOp struct{ opBase }

func (poolOp) Arity() int    { return 1 }
func (poolOp) Type() hm.Type { return hm.NewFnType(tensorType(4), tensorType(4)) }
func (o poolOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := shape4(o.name, in[0])
	if err != nil {
		return nil, err
	}
	return tensor.Shape{s[0], s[1], s[2] / 2, s[3] / 2}, nil
}

func (o poolOp) Do(vs ...G.Value) (G.Value, error) {
	ins, err := dense(vs, 1)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.name, err)
	}
	s := ins[0].Shape()
	shape, _ := o.InferShape(s)
	return dispatch(ins, shape,
		func(in [][]float32, out []float32) { poolForward(in[0], out, s) },
		func(in [][]float64, out []float64) { poolForward(in[0], out, s) })
}

func poolForward[T float](x, y []T, s tensor.Shape) {
	nc, h, w := s[0]*s[1], s[2], s[3]
	oh, ow := h/2, w/2
	for p := 0; p < nc; p++ {
		img, out := x[p*h*w:(p+1)*h*w], y[p*oh*ow:(p+1)*oh*ow]
		for oy := 0; oy < oh; oy++ {
			r0, r1 := img[2*oy*w:(2*oy+1)*w], img[(2*oy+1)*w:(2*oy+2)*w]
			o := out[oy*ow : (oy+1)*ow]
			for ox := range o {
				// builtin max is branch-free (MINSS-based); the ReLU
				// output makes compare-and-branch unpredictable
				o[ox] = max(max(r0[2*ox], r0[2*ox+1]), max(r1[2*ox], r1[2*ox+1]))
			}
		}
	}
}

func (poolOp) DiffWRT(int) []bool { return []bool{true} }
func (o poolOp) SymDiff(in G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	dx, err := G.ApplyOp(poolGradOp{opBase{"poolGrad"}}, in[0], grad)
	return G.Nodes{dx}, err
}

// poolGradOp: (x [A B H W], dy [A B H/2 W/2]) → dx: each window's dy goes
// to its maximum, the first in (0,0), (0,1), (1,0), (1,1) order on ties,
// as poolForward picks it.
type poolGradOp struct{ opBase }

func (poolGradOp) Arity() int    { return 2 }
func (poolGradOp) Type() hm.Type { return hm.NewFnType(tensorType(4), tensorType(4), tensorType(4)) }
func (o poolGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := shape4(o.name, in[0])
	if err != nil {
		return nil, err
	}
	return s.Clone(), nil
}

func (o poolGradOp) Do(vs ...G.Value) (G.Value, error) {
	ins, err := dense(vs, 2)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.name, err)
	}
	s := ins[0].Shape()
	return dispatch(ins, s,
		func(in [][]float32, out []float32) { poolBackward(in[0], in[1], out, s) },
		func(in [][]float64, out []float64) { poolBackward(in[0], in[1], out, s) })
}

func poolBackward[T float](x, dy, dx []T, s tensor.Shape) {
	nc, h, w := s[0]*s[1], s[2], s[3]
	oh, ow := h/2, w/2
	for p := 0; p < nc; p++ {
		img, d, g := x[p*h*w:(p+1)*h*w], dx[p*h*w:(p+1)*h*w], dy[p*oh*ow:(p+1)*oh*ow]
		if img32, ok := any(img).([]float32); ok {
			poolBack32(img32, any(d).([]float32), any(g).([]float32), oh, ow, w)
			continue
		}
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				i := 2*oy*w + 2*ox
				best := i
				for _, j := range [3]int{i + 1, i + w, i + w + 1} {
					if img[j] > img[best] {
						best = j
					}
				}
				d[best] = g[oy*ow+ox] // dx is freshly zeroed
			}
		}
	}
}

// eqMask is all ones when a == b, else zero, without a branch.
func eqMask(a, b float32) uint32 {
	var m uint32
	if a == b {
		m = 1
	}
	return -m
}

// poolBack32 is poolBackward's float32 window loop without branches: the
// gradient goes to the first maximum in (0,0), (0,1), (1,0), (1,1) order.
func poolBack32(img, d, g []float32, oh, ow, w int) {
	for oy := 0; oy < oh; oy++ {
		r0, r1 := img[2*oy*w:(2*oy+1)*w], img[(2*oy+1)*w:(2*oy+2)*w]
		d0, d1 := d[2*oy*w:(2*oy+1)*w], d[(2*oy+1)*w:(2*oy+2)*w]
		for ox, gv := range g[oy*ow : (oy+1)*ow] {
			a, b, c, e := r0[2*ox], r0[2*ox+1], r1[2*ox], r1[2*ox+1]
			m := max(max(a, b), max(c, e))
			ka := eqMask(a, m)
			kb := eqMask(b, m) &^ ka
			kc := eqMask(c, m) &^ (ka | kb)
			ke := ^(ka | kb | kc)
			bits := math.Float32bits(gv)
			d0[2*ox] = math.Float32frombits(bits & ka)
			d0[2*ox+1] = math.Float32frombits(bits & kb)
			d1[2*ox] = math.Float32frombits(bits & kc)
			d1[2*ox+1] = math.Float32frombits(bits & ke)
		}
	}
}
