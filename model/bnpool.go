package model

import (
	"fmt"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Batch norm, ReLU and 2×2 max-pooling (stride 2, floor: an odd last row
// or column is dropped) fused into one op per direction. Training graph:
//
//	st = bnStats(x)                 // [2 C]: mean, biased variance
//	y  = bnReluPool(x, st, γ, β)    // pool(relu(x·a + shift)), a = γ/√(σ²+eps)
//
// The unpooled activation is never stored. Instead the forward pass
// records each window's routes (see routes): the position of its first
// maximum of z = x·a + shift in (0,0), (0,1), (1,0), (1,1) order (where
// the pooled ReLU output came from, as ReLU is increasing), whether that
// maximum is positive, and x there. The window's gradient goes to that
// position if the maximum is positive, so dz = dy there and 0 elsewhere.
// Then, with the full batch-norm derivative through the batch statistics:
//
//	pg = bnPoolParamGrad(x, st, γ, β, dy)     // [dγ; dβ] = [Σ dz·x̂; Σ dz]
//	dx = bnPoolInputGrad(x, st, γ, β, dy, pg) // a·dz − (dβ + x̂·dγ)·a/M
//
// with x̂ = (x − μ)/√(σ²+eps) and M = N·H·W. The parameter gradient
// reads only the routes and dy; the input gradient reads x once. Work is
// split over channels (parallelFor), each channel computed alone.

// bnStatsOp returns [2 C]: row 0 the per-channel mean, row 1 the biased
// variance of x [C N H W] over (N, H, W), accumulated in float64 in a
// fixed order. Not differentiable itself: the gradient of bnReluPool
// accounts for it.
type bnStatsOp struct {
	opBase
	out *outBuf
}

func (bnStatsOp) Arity() int    { return 1 }
func (bnStatsOp) Type() hm.Type { return hm.NewFnType(tensorType(4), tensorType(2)) }
func (o bnStatsOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := shape4(o.name, in[0])
	if err != nil {
		return nil, err
	}
	return tensor.Shape{2, s[0]}, nil
}

func (o bnStatsOp) Do(vs ...G.Value) (G.Value, error) {
	ins, err := dense(vs, 1)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.name, err)
	}
	s := ins[0].Shape()
	return dispatch(ins, tensor.Shape{2, s[0]}, o.out,
		func(in [][]float32, out []float32) { channelStats(in[0], out, s) },
		func(in [][]float64, out []float64) { channelStats(in[0], out, s) })
}

// channelStats writes the per-channel mean, then the biased variance, of
// x [C N H W]: one pass of Σx and Σx² in float64 (channelSums32 for
// float32).
func channelStats[T float](x, out []T, s tensor.Shape) {
	c, m := s[0], s[1]*s[2]*s[3]
	parallelFor(c, func(_, ch int) {
		v := x[ch*m : (ch+1)*m]
		var sum, sq float64
		if v32, ok := any(v).([]float32); ok {
			sum, sq = channelSums32(v32)
		} else {
			for _, e := range v {
				f := float64(e)
				sum, sq = sum+f, sq+f*f
			}
		}
		mu := sum / float64(m)
		vr := max(sq/float64(m)-mu*mu, 0)
		out[ch], out[c+ch] = T(mu), T(vr)
	})
}

// affine returns the per-channel scale a = γ/√(σ²+eps), the shift
// β − μ·a and 1/√(σ²+eps) from the statistics st [2 C].
func affine[T float](st, gamma, beta []T, ch int) (a, shift T, inv float64) {
	c := len(gamma)
	inv = 1 / math.Sqrt(float64(st[c+ch])+bnEps)
	af := float64(gamma[ch]) * inv
	return T(af), T(float64(beta[ch]) - float64(st[ch])*af), inv
}

// routes is what the forward pass of bnReluPool leaves for its gradient,
// per pooling window: code is the position (0..3, in (0,0), (0,1), (1,0),
// (1,1) order) of the window's first maximum of z, plus 4 when that
// maximum is not positive (the ReLU passed nothing); sel is x there.
// Shared by the forward op and its two gradient ops, which run after it
// in the same run (they read its output's gradient).
type routes[T float] struct {
	code []uint8
	sel  []T
}

// routeBuf holds the routes of one bnReluPool node, per dtype.
type routeBuf struct {
	f32 routes[float32]
	f64 routes[float64]
}

func routesFor[T float](b *routeBuf, n int) *routes[T] {
	var r any
	if _, ok := any(T(0)).(float32); ok {
		r = &b.f32
	} else {
		r = &b.f64
	}
	rt := r.(*routes[T])
	if cap(rt.code) < n {
		rt.code, rt.sel = make([]uint8, n), make([]T, n)
	}
	rt.code, rt.sel = rt.code[:n], rt.sel[:n]
	return rt
}

// b2i is 1 for true, 0 for false (a SETcc, no branch).
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// reluPoolPlanes writes y = pool(relu(x·a + shift)) for the planes of
// one channel: x holds n planes of h×w, y n planes of (h/2)×(w/2).
func reluPoolPlanes[T float](x, y []T, n, h, w int, a, sh T) {
	oh, ow := h/2, w/2
	for p := 0; p < n; p++ {
		img, out := x[p*h*w:(p+1)*h*w], y[p*oh*ow:(p+1)*oh*ow]
		for oy := 0; oy < oh; oy++ {
			r0, r1 := img[2*oy*w:(2*oy+1)*w], img[(2*oy+1)*w:(2*oy+2)*w]
			o := out[oy*ow : (oy+1)*ow]
			for ox := range o {
				z0, z1 := r0[2*ox]*a+sh, r0[2*ox+1]*a+sh
				z2, z3 := r1[2*ox]*a+sh, r1[2*ox+1]*a+sh
				// builtin max is branch-free; ReLU output makes compare
				// and branch unpredictable
				o[ox] = max(max(z0, z1), max(z2, z3), 0)
			}
		}
	}
}

// bnReluPoolOp: (x [C N H W], st [2 C], γ [C], β [C]) → [C N H/2 W/2],
// training-mode batch norm with the statistics st, ReLU, max-pooling.
type bnReluPoolOp struct {
	opBase
	out   *outBuf
	route *routeBuf
}

func (bnReluPoolOp) Arity() int { return 4 }
func (bnReluPoolOp) Type() hm.Type {
	return hm.NewFnType(tensorType(4), tensorType(2), tensorType(1), tensorType(1), tensorType(4))
}
func (o bnReluPoolOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := shape4(o.name, in[0])
	if err != nil {
		return nil, err
	}
	return pooled(s), nil
}

func pooled(s tensor.Shape) tensor.Shape { return tensor.Shape{s[0], s[1], s[2] / 2, s[3] / 2} }

func (o bnReluPoolOp) Do(vs ...G.Value) (G.Value, error) {
	ins, err := dense(vs, 4)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.name, err)
	}
	s := ins[0].Shape()
	return dispatch(ins, pooled(s), o.out,
		func(in [][]float32, out []float32) { bnReluPoolInto(in[0], in[1], in[2], in[3], out, s, o.route) },
		func(in [][]float64, out []float64) { bnReluPoolInto(in[0], in[1], in[2], in[3], out, s, o.route) })
}

func bnReluPoolInto[T float](x, st, gamma, beta, y []T, s tensor.Shape, rb *routeBuf) {
	c, n, h, w := s[0], s[1], s[2], s[3]
	m, om := n*h*w, n*(h/2)*(w/2)
	rt := routesFor[T](rb, c*om)
	parallelFor(c, func(_, ch int) {
		a, sh, _ := affine(st, gamma, beta, ch)
		routePlanes(x[ch*m:(ch+1)*m], y[ch*om:(ch+1)*om], rt.code[ch*om:(ch+1)*om], rt.sel[ch*om:(ch+1)*om], n, h, w, a, sh)
	})
}

// DiffWRT: the statistics input is differentiated through inside
// bnPoolInputGrad, so Gorgonia must not try to.
func (bnReluPoolOp) DiffWRT(int) []bool { return []bool{true, false, true, true} }
func (o bnReluPoolOp) SymDiff(in G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	x, st, gamma, beta := in[0], in[1], in[2], in[3]
	pg, err := G.ApplyOp(bnPoolParamGradOp{opBase{"bnPoolParamGrad"}, new(outBuf), o.route}, x, st, gamma, beta, grad)
	if err != nil {
		return nil, err
	}
	dx, err := G.ApplyOp(bnPoolInputGradOp{opBase{"bnPoolInputGrad"}, new(outBuf), o.route}, x, st, gamma, beta, grad, pg)
	if err != nil {
		return nil, err
	}
	dgamma, err := G.Slice(pg, G.S(0))
	if err != nil {
		return nil, err
	}
	dbeta, err := G.Slice(pg, G.S(1))
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx, nil, dgamma, dbeta}, nil
}

// mask32 is all ones when ok, else zero; compiled without a branch.
func mask32(ok bool) uint32 {
	var m uint32
	if ok {
		m = 1
	}
	return -m
}

// bnPoolParamGradOp returns [2 C]: dγ = Σ dz·x̂ and dβ = Σ dz per channel.
type bnPoolParamGradOp struct {
	opBase
	out   *outBuf
	route *routeBuf // filled by the forward op
}

func (bnPoolParamGradOp) Arity() int { return 5 }
func (bnPoolParamGradOp) Type() hm.Type {
	return hm.NewFnType(tensorType(4), tensorType(2), tensorType(1), tensorType(1), tensorType(4), tensorType(2))
}
func (o bnPoolParamGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := shape4(o.name, in[0])
	if err != nil {
		return nil, err
	}
	return tensor.Shape{2, s[0]}, nil
}

func (o bnPoolParamGradOp) Do(vs ...G.Value) (G.Value, error) {
	ins, err := dense(vs, 5)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.name, err)
	}
	s := ins[0].Shape()
	return dispatch(ins, tensor.Shape{2, s[0]}, o.out,
		func(in [][]float32, out []float32) {
			bnPoolParamGrad(in[0], in[1], in[2], in[3], in[4], out, s, o.route)
		},
		func(in [][]float64, out []float64) {
			bnPoolParamGrad(in[0], in[1], in[2], in[3], in[4], out, s, o.route)
		})
}

func bnPoolParamGrad[T float](x, st, gamma, beta, dy, out []T, s tensor.Shape, rb *routeBuf) {
	c, om := s[0], s[1]*(s[2]/2)*(s[3]/2)
	rt := routesFor[T](rb, c*om)
	parallelFor(c, func(_, ch int) {
		_, _, inv := affine(st, gamma, beta, ch)
		var sdz, sdzx float64 // Σ dz, Σ dz·x over windows that passed the ReLU
		code, sel, g := rt.code[ch*om:(ch+1)*om], rt.sel[ch*om:(ch+1)*om], dy[ch*om:(ch+1)*om]
		for i, cd := range code {
			gm := float64(g[i]) * float64(cd>>2^1) // 0 where nothing passed
			sdz += gm
			sdzx += gm * float64(sel[i])
		}
		out[ch] = T((sdzx - float64(st[ch])*sdz) * inv)
		out[c+ch] = T(sdz)
	})
}

// bnPoolInputGradOp returns dx = a·dz − (dβ + x̂·dγ)·a/M given
// pg = [dγ; dβ] from bnPoolParamGradOp.
type bnPoolInputGradOp struct {
	opBase
	out   *outBuf
	route *routeBuf // filled by the forward op
}

func (bnPoolInputGradOp) Arity() int { return 6 }
func (bnPoolInputGradOp) Type() hm.Type {
	return hm.NewFnType(tensorType(4), tensorType(2), tensorType(1), tensorType(1), tensorType(4), tensorType(2), tensorType(4))
}
func (o bnPoolInputGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := shape4(o.name, in[0])
	if err != nil {
		return nil, err
	}
	return s.Clone(), nil
}

func (o bnPoolInputGradOp) Do(vs ...G.Value) (G.Value, error) {
	ins, err := dense(vs, 6)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.name, err)
	}
	s := ins[0].Shape()
	return dispatch(ins, s, o.out,
		func(in [][]float32, out []float32) {
			bnPoolInputGrad(in[0], in[1], in[2], in[3], in[4], in[5], out, s, o.route)
		},
		func(in [][]float64, out []float64) {
			bnPoolInputGrad(in[0], in[1], in[2], in[3], in[4], in[5], out, s, o.route)
		})
}

func bnPoolInputGrad[T float](x, st, gamma, beta, dy, pg, dx []T, s tensor.Shape, rb *routeBuf) {
	c, n, h, w := s[0], s[1], s[2], s[3]
	m, oh, ow := n*h*w, h/2, w/2
	om := n * oh * ow
	rt := routesFor[T](rb, c*om)
	parallelFor(c, func(_, ch int) {
		_, _, inv := affine(st, gamma, beta, ch)
		k := float64(gamma[ch]) * inv
		mu, dgamma, dbeta := float64(st[ch]), float64(pg[ch]), float64(pg[c+ch])
		// dx = k·dz + (p·x + q), the x̂ term expanded: x̂ = (x − μ)·inv
		p := -k * dgamma * inv / float64(m)
		q := -k*dbeta/float64(m) + k*dgamma*inv*mu/float64(m)
		kt, pt, qt := T(k), T(p), T(q)
		xc, dxc := x[ch*m:(ch+1)*m], dx[ch*m:(ch+1)*m]
		code, g := rt.code[ch*om:(ch+1)*om], dy[ch*om:(ch+1)*om]
		if x32, ok := any(xc).([]float32); ok {
			inputGradPlanes32(x32, any(dxc).([]float32), code, any(g).([]float32), n, h, w,
				float32(pt), float32(qt), float32(kt))
			return
		}
		for i, v := range xc {
			dxc[i] = v*pt + qt
		}
		for pl := 0; pl < n; pl++ {
			for oy := 0; oy < oh; oy++ {
				row := pl*h*w + 2*oy*w
				o := (pl*oh + oy) * ow
				for ox, cd := range code[o : o+ow] {
					if cd < 4 {
						dxc[row+2*ox+int(cd>>1)*w+int(cd&1)] += kt * g[o+ox]
					}
				}
			}
		}
	})
}

// affineReluPoolOp: (x [C N H W], a [C], shift [C]) → [C N H/2 W/2],
// pool(relu(x·a + shift)): evaluation-mode batch norm (running statistics
// folded into a and shift), ReLU and max-pooling. Not differentiable.
type affineReluPoolOp struct {
	opBase
	out *outBuf
}

func (affineReluPoolOp) Arity() int { return 3 }
func (affineReluPoolOp) Type() hm.Type {
	return hm.NewFnType(tensorType(4), tensorType(1), tensorType(1), tensorType(4))
}
func (o affineReluPoolOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := shape4(o.name, in[0])
	if err != nil {
		return nil, err
	}
	return pooled(s), nil
}

func (o affineReluPoolOp) Do(vs ...G.Value) (G.Value, error) {
	ins, err := dense(vs, 3)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.name, err)
	}
	s := ins[0].Shape()
	return dispatch(ins, pooled(s), o.out,
		func(in [][]float32, out []float32) { affineReluPoolInto(in[0], in[1], in[2], out, s) },
		func(in [][]float64, out []float64) { affineReluPoolInto(in[0], in[1], in[2], out, s) })
}

func affineReluPoolInto[T float](x, a, sh, y []T, s tensor.Shape) {
	c, n, h, w := s[0], s[1], s[2], s[3]
	m, om := n*h*w, n*(h/2)*(w/2)
	parallelFor(c, func(_, ch int) {
		reluPoolPlanes(x[ch*m:(ch+1)*m], y[ch*om:(ch+1)*om], n, h, w, a[ch], sh[ch])
	})
}
