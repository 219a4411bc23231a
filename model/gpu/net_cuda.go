//go:build fslcuda

package gpu

/*
#include "cushim.h"
*/
import "C"

import (
	"fmt"
)

// Shape is the batch shape a Net computes: Images images of Channels
// planes of Size×Size pixels (Channels 0 means 1) through four blocks of
// Filters filters.
type Shape struct {
	Images, Size, Filters int
	Channels              int
}

// planes is the input's channel count.
func (s Shape) planes() int { return max(1, s.Channels) }

// Weights are the backbone's parameters, one entry per block:
// Conv[b] [F Cin 3 3] (Cin = Shape's channels for block 0, F after), Gamma[b] and
// Beta[b] [F], laid out as package model lays them out.
type Weights struct {
	Conv, Gamma, Beta [4][]float32
}

// Grads receives a step's results, shaped like Weights; Mean and Var [F]
// are each block's batch statistics (Var biased) that its batch norm
// normalised with. Step replaces slices of the wrong length.
type Grads struct {
	Conv, Gamma, Beta [4][]float32
	Mean, Var         [4][]float32
}

// block holds the device buffers of one Conv-4 block.
type block struct {
	side, cin int // input side and channels
	w, gamma, beta,
	conv, relu, pool, // [F N s s], [F N s s], [F N s/2 s/2]
	stats, a, sh, // [2F], [F], [F]
	dw, dgamma, dbeta devptr
	wdSplits, wdChunk int // split-K of the weight-gradient gemm
}

// Net holds the device buffers of one batch shape on one Device, allocated
// once by NewNet and reused by every Step. Safe for concurrent use: steps
// run one at a time per Device.
type Net struct {
	d      *Device
	s      Shape
	dim    int // embedding length F·s4·s4
	blocks [4]block
	px, x0, col, parts, red, mean64, coef,
	g1, g2, g3 devptr
	planar []uint8 // multi-channel pixels reordered to [C N H W] for upload
	allocs []devptr
	host   []float32 // last feature map / its gradient, [F N s4 s4]
	closed bool
}

// NewNet allocates the buffers for shape s. Errors wrap ErrCUDA (bad shape,
// out of device memory).
func (d *Device) NewNet(s Shape) (*Net, error) {
	if s.Images < 1 || s.Size < 16 || s.Filters < 1 || s.Channels < 0 {
		return nil, fmt.Errorf("net shape %+v: want images ≥ 1, size ≥ 16, filters ≥ 1, channels ≥ 0: %w", s, ErrCUDA)
	}
	n := &Net{d: d, s: s}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, fmt.Errorf("net: device %d is closed: %w", d.info.Index, ErrCUDA)
	}
	err := d.withContext(func() error {
		f, imgs := s.Filters, s.Images
		side, cin := s.Size, s.planes()
		colMax, partsMax, actMax := 0, 0, 0
		for b := range n.blocks {
			bl := &n.blocks[b]
			bl.side, bl.cin = side, cin
			m := imgs * side * side
			bl.wdSplits, bl.wdChunk = splitK(f, cin*9, m)
			colMax = max(colMax, cin*9*m)
			partsMax = max(partsMax, bl.wdSplits*f*cin*9)
			actMax = max(actMax, f*m)
			o := side / 2
			for _, buf := range []bufSpec{
				{&bl.w, "weights", f * cin * 9}, {&bl.gamma, "gamma", f}, {&bl.beta, "beta", f},
				{&bl.conv, "conv output", f * m}, {&bl.relu, "relu output", f * m}, {&bl.pool, "pool output", f * imgs * o * o},
				{&bl.stats, "statistics", 2 * f}, {&bl.a, "bn scale", f}, {&bl.sh, "bn shift", f},
				{&bl.dw, "weight gradient", f * cin * 9}, {&bl.dgamma, "gamma gradient", f}, {&bl.dbeta, "beta gradient", f},
			} {
				if err := n.alloc(buf.p, fmt.Sprintf("block %d %s", b+1, buf.name), 4*buf.n); err != nil {
					return err
				}
			}
			side, cin = o, f
		}
		n.dim = f * side * side
		for _, buf := range []bufSpec{
			{&n.px, "pixels", (imgs*s.planes()*s.Size*s.Size + 3) / 4}, {&n.x0, "input", imgs * s.planes() * s.Size * s.Size},
			{&n.col, "patch matrix", colMax}, {&n.parts, "gemm parts", partsMax},
			{&n.red, "reduction parts", 2 * 2 * f * maxChunks}, {&n.mean64, "means", 2 * f},
			{&n.coef, "bn backward coefficients", 3 * f},
			{&n.g1, "gradient buffer 1", actMax}, {&n.g2, "gradient buffer 2", actMax}, {&n.g3, "gradient buffer 3", actMax},
		} {
			if err := n.alloc(buf.p, buf.name, 4*buf.n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		n.free()
		return nil, fmt.Errorf("net for %d images of %d×%d, %d filters on %s: %w", s.Images, s.Size, s.Size, s.Filters, d.info, err)
	}
	n.host = make([]float32, s.Images*n.dim)
	return n, nil
}

// bufSpec names a device buffer of n float32-sized values to allocate.
type bufSpec struct {
	p    *devptr
	name string
	n    int
}

// alloc allocates one buffer and records it for free (context current).
func (n *Net) alloc(p *devptr, what string, bytes int) error {
	ptr, err := alloc(what, bytes)
	if err != nil {
		return err
	}
	*p = ptr
	n.allocs = append(n.allocs, ptr)
	return nil
}

// free releases every buffer (it sets the context itself).
func (n *Net) free() error {
	return n.d.withContext(func() error {
		var first error
		for _, p := range n.allocs {
			if err := cuErr("cuMemFree", C.fsl_free(p), nil); err != nil && first == nil {
				first = err
			}
		}
		n.allocs = nil
		return first
	})
}

// Close releases the Net's device memory; later Steps fail.
func (n *Net) Close() error {
	n.d.mu.Lock()
	defer n.d.mu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	return n.free()
}

// Shape is the batch shape of the Net.
func (n *Net) Shape() Shape { return n.s }

// Dim is the embedding length: Filters × s × s for the side s left after
// four poolings.
func (n *Net) Dim() int { return n.dim }

// Head turns the embeddings emb [Images Dim] (row i is image i, in
// (channel, y, x) order) into the loss gradient dEmb of the same shape
// (to be overwritten). It runs on the host, between the forward and the
// backward pass.
type Head func(emb, dEmb []float32) error

// Step runs one training step of the backbone: the forward pass of
// pixels (Images images of Channels planes of Size×Size bytes, planar as
// params.Batch lays them out, x/255) under w, head on the
// host, and the backward pass of its dEmb, writing the parameter
// gradients and batch statistics into g. Errors from head are returned as
// they are; others wrap ErrCUDA.
func (n *Net) Step(w *Weights, pixels []uint8, head Head, g *Grads) error {
	if err := n.checkInputs(w, pixels); err != nil {
		return err
	}
	n.d.mu.Lock()
	defer n.d.mu.Unlock()
	if n.closed || n.d.closed {
		return fmt.Errorf("step: net or device closed: %w", ErrCUDA)
	}
	var headErr error
	err := n.d.withContext(func() error {
		if err := n.forward(w, pixels); err != nil {
			return err
		}
		emb, dEmb := make([]float32, len(n.host)), make([]float32, len(n.host))
		if err := dtoh("embeddings", n.host, n.blocks[3].pool); err != nil {
			return err
		}
		n.transpose(n.host, emb, false)
		if headErr = head(emb, dEmb); headErr != nil {
			return nil
		}
		n.transpose(n.host, dEmb, true)
		if err := n.backward(); err != nil {
			return err
		}
		return n.read(g)
	})
	if headErr != nil {
		return headErr
	}
	if err != nil {
		return fmt.Errorf("step of %d images on %s: %w", n.s.Images, n.d.info, err)
	}
	return nil
}

// checkInputs reports whether w and pixels fit the Net's shape.
func (n *Net) checkInputs(w *Weights, pixels []uint8) error {
	if want := n.s.Images * n.s.planes() * n.s.Size * n.s.Size; len(pixels) != want {
		return fmt.Errorf("step: %d pixel bytes, want %d: %w", len(pixels), want, ErrCUDA)
	}
	f := n.s.Filters
	for b, bl := range n.blocks {
		if len(w.Conv[b]) != f*bl.cin*9 || len(w.Gamma[b]) != f || len(w.Beta[b]) != f {
			return fmt.Errorf("step: block %d weights %d, gamma %d, beta %d values, want %d, %d, %d: %w",
				b+1, len(w.Conv[b]), len(w.Gamma[b]), len(w.Beta[b]), f*bl.cin*9, f, f, ErrCUDA)
		}
	}
	return nil
}

// transpose converts between the last feature map fm [F N s2] and
// embeddings e [N F·s2]: fm → e when back is false, e → fm when true.
func (n *Net) transpose(fm, e []float32, back bool) {
	f, imgs := n.s.Filters, n.s.Images
	s2 := n.dim / f
	for c := 0; c < f; c++ {
		for i := 0; i < imgs; i++ {
			src := fm[(c*imgs+i)*s2 : (c*imgs+i+1)*s2]
			dst := e[i*n.dim+c*s2 : i*n.dim+(c+1)*s2]
			if back {
				copy(src, dst)
			} else {
				copy(dst, src)
			}
		}
	}
}

// grid1 is the number of blocks of a grid-stride kernel over total items.
func grid1(total int) int {
	return max(1, min((total+threads-1)/threads, 1<<20))
}

// forward uploads w and pixels and runs the four blocks (context current).
func (n *Net) forward(w *Weights, pixels []uint8) error {
	if c := n.s.planes(); c > 1 {
		// the kernels take [C N H W]: plane ch of image i goes to (ch·N + i)
		hw, imgs := n.s.Size*n.s.Size, n.s.Images
		if len(n.planar) != len(pixels) {
			n.planar = make([]uint8, len(pixels))
		}
		for i := 0; i < imgs; i++ {
			for ch := 0; ch < c; ch++ {
				copy(n.planar[(ch*imgs+i)*hw:(ch*imgs+i+1)*hw], pixels[(i*c+ch)*hw:(i*c+ch+1)*hw])
			}
		}
		pixels = n.planar
	}
	if err := htod("pixels", n.px, pixels); err != nil {
		return err
	}
	total := len(pixels)
	if err := n.d.launch("pixels_to_float", grid1(total), 1, 1, threads, ptr(n.px), ptr(n.x0), i64(total)); err != nil {
		return err
	}
	f, imgs := n.s.Filters, n.s.Images
	in := n.x0
	for b := range n.blocks {
		bl := &n.blocks[b]
		if err := htod("weights", bl.w, w.Conv[b]); err != nil {
			return err
		}
		if err := htod("gamma", bl.gamma, w.Gamma[b]); err != nil {
			return err
		}
		if err := htod("beta", bl.beta, w.Beta[b]); err != nil {
			return err
		}
		s, k := bl.side, bl.cin*9
		m := imgs * s * s
		if err := n.d.launch("im2col", grid1(k*m), 1, 1, threads, ptr(in), ptr(n.col), i32(bl.cin), i32(imgs), i32(s), i32(s)); err != nil {
			return err
		}
		// conv [F M] = W [F k] · col [k M]
		if err := n.gemm(false, false, f, m, k, bl.w, k, n.col, m, bl.conv, 1, 0); err != nil {
			return err
		}
		if err := n.stats(bl, m); err != nil {
			return err
		}
		if err := n.d.launch("bn_relu", grid1(f*m), 1, 1, threads, ptr(bl.conv), ptr(bl.a), ptr(bl.sh), ptr(bl.relu), i32(f), i64(m)); err != nil {
			return err
		}
		o := s / 2
		if err := n.d.launch("maxpool", grid1(f*imgs*o*o), 1, 1, threads, ptr(bl.relu), ptr(bl.pool), i64(f*imgs), i32(s), i32(s)); err != nil {
			return err
		}
		in = bl.pool
	}
	return nil
}

// stats computes block bl's batch statistics of its conv output [F m]
// and the affine map of its batch norm (context current).
func (n *Net) stats(bl *block, m int) error {
	f := n.s.Filters
	parts, chunk := chunks(m)
	cg := (f + threads - 1) / threads
	if err := n.d.launch("channel_partial", parts, f, 1, threads, ptr(bl.conv), ptr(0), ptr(n.red), i64(m), i64(chunk)); err != nil {
		return err
	}
	if err := n.d.launch("bn_mean", cg, 1, 1, threads, ptr(n.red), i32(parts), i32(f), i64(m), ptr(n.mean64), ptr(bl.stats)); err != nil {
		return err
	}
	if err := n.d.launch("channel_partial", parts, f, 1, threads, ptr(bl.conv), ptr(n.mean64), ptr(n.red), i64(m), i64(chunk)); err != nil {
		return err
	}
	return n.d.launch("bn_var", cg, 1, 1, threads, ptr(n.red), i32(parts), i32(f), i64(m), ptr(bl.stats),
		ptr(bl.gamma), ptr(bl.beta), ptr(bl.a), ptr(bl.sh))
}

// gemm computes C [m nn] (row stride nn) = op(A)·op(B) with op(A) [m k],
// op(B) [k nn]; parts and chunk come from splitK (1, 0 for no split).
// With parts > 1 the parts go to n.parts and are summed in order into C.
func (n *Net) gemm(transA, transB bool, m, nn, k int, a devptr, lda int, b devptr, ldb int, c devptr, parts, chunk int) error {
	ta, tb := 0, 0
	if transA {
		ta = 1
	}
	if transB {
		tb = 1
	}
	gx, gy := (nn+63)/64, (m+63)/64
	if parts <= 1 {
		return n.d.launch("sgemm", gx, gy, 1, threads, i32(ta), i32(tb), i32(m), i32(nn), i32(k),
			ptr(a), i32(lda), ptr(b), i32(ldb), ptr(c), i32(nn), i32(k), i64(0))
	}
	if err := n.d.launch("sgemm", gx, gy, parts, threads, i32(ta), i32(tb), i32(m), i32(nn), i32(k),
		ptr(a), i32(lda), ptr(b), i32(ldb), ptr(n.parts), i32(nn), i32(chunk), i64(m*nn)); err != nil {
		return err
	}
	return n.d.launch("sum_parts", grid1(m*nn), 1, 1, threads, ptr(n.parts), ptr(c), i64(m*nn), i32(parts))
}

// backward runs the backward pass from the last feature map's gradient in
// n.host (context current).
func (n *Net) backward() error {
	f, imgs := n.s.Filters, n.s.Images
	if err := htod("embedding gradient", n.g1, n.host); err != nil {
		return err
	}
	for b := 3; b >= 0; b-- {
		bl := &n.blocks[b]
		s, k := bl.side, bl.cin*9
		m := imgs * s * s
		// g1: d pool output → g2: d relu output
		if err := n.d.launch("maxpool_back", grid1(f*m), 1, 1, threads, ptr(bl.relu), ptr(n.g1), ptr(n.g2), i64(f*imgs), i32(s), i32(s)); err != nil {
			return err
		}
		// batch norm + ReLU backward: g2 → g3 (d conv output), dγ, dβ
		parts, chunk := chunks(m)
		if err := n.d.launch("bn_back_partial", parts, f, 1, threads, ptr(bl.conv), ptr(n.g2), ptr(bl.a), ptr(bl.sh),
			ptr(n.red), i64(m), i64(chunk)); err != nil {
			return err
		}
		if err := n.d.launch("bn_back_params", (f+threads-1)/threads, 1, 1, threads, ptr(n.red), i32(parts), i32(f), i64(m),
			ptr(bl.stats), ptr(bl.gamma), ptr(bl.dgamma), ptr(bl.dbeta), ptr(n.coef)); err != nil {
			return err
		}
		if err := n.d.launch("bn_back_dx", grid1(f*m), 1, 1, threads, ptr(bl.conv), ptr(n.g2), ptr(bl.a), ptr(bl.sh),
			ptr(n.coef), ptr(n.g3), i32(f), i64(m)); err != nil {
			return err
		}
		// dW [F k] = dconv [F m] · colᵀ, col [k m] recomputed from the block input
		in := n.x0
		if b > 0 {
			in = n.blocks[b-1].pool
		}
		if err := n.d.launch("im2col", grid1(k*m), 1, 1, threads, ptr(in), ptr(n.col), i32(bl.cin), i32(imgs), i32(s), i32(s)); err != nil {
			return err
		}
		if err := n.gemm(false, true, f, k, m, n.g3, m, n.col, m, bl.dw, bl.wdSplits, bl.wdChunk); err != nil {
			return err
		}
		if b == 0 {
			break // no gradient for the pixels
		}
		// dcol [k m] = Wᵀ · dconv, then col2im into g1: d of the previous pool output
		if err := n.gemm(true, false, k, m, f, bl.w, k, n.g3, m, n.col, 1, 0); err != nil {
			return err
		}
		if err := n.d.launch("col2im", grid1(bl.cin*m), 1, 1, threads, ptr(n.col), ptr(n.g1), i32(bl.cin), i32(imgs), i32(s), i32(s)); err != nil {
			return err
		}
	}
	return nil
}

// read copies the gradients and statistics into g (context current).
func (n *Net) read(g *Grads) error {
	f := n.s.Filters
	for b := range n.blocks {
		bl := &n.blocks[b]
		for _, r := range []struct {
			dst  *[]float32
			src  devptr
			size int
			name string
		}{
			{&g.Conv[b], bl.dw, f * bl.cin * 9, "weight gradient"},
			{&g.Gamma[b], bl.dgamma, f, "gamma gradient"},
			{&g.Beta[b], bl.dbeta, f, "beta gradient"},
		} {
			if len(*r.dst) != r.size {
				*r.dst = make([]float32, r.size)
			}
			if err := dtoh(fmt.Sprintf("block %d %s", b+1, r.name), *r.dst, r.src); err != nil {
				return err
			}
		}
		st := make([]float32, 2*f)
		if err := dtoh(fmt.Sprintf("block %d statistics", b+1), st, bl.stats); err != nil {
			return err
		}
		g.Mean[b], g.Var[b] = st[:f:f], st[f:]
	}
	return synchronize()
}
