package model

import (
	"fmt"
	"hash"
	"hash/fnv"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Custom Gorgonia ops for the hot paths Gorgonia's primitives make slow
// (measured): batch norm built from broadcasts materialises every [C]
// operand to the full [C N H W] shape (and sums it back in the gradient);
// Conv2d's final NHWC→NCHW transpose walks an n-dimensional iterator
// element by element, and its im2col, col2im and max-pooling loops are
// generic. Batch norm is here; convolution and pooling in convpool.go. The ops here hold no state: everything they compute is a pure
// function of their inputs, and the gradients are checked against finite
// differences in grad_check_test.go.

// opBase implements the bookkeeping methods every op shares.
type opBase struct{ name string }

func (o opBase) ReturnsPtr() bool      { return false }
func (o opBase) CallsExtern() bool     { return false }
func (o opBase) OverwritesInput() int  { return -1 }
func (o opBase) String() string        { return o.name }
func (o opBase) WriteHash(h hash.Hash) { fmt.Fprint(h, o.name) }
func (o opBase) Hashcode() uint32 {
	h := fnv.New32a()
	o.WriteHash(h)
	return h.Sum32()
}

func tensorType(dims int) G.TensorType { return G.TensorType{Dims: dims, Of: hm.TypeVariable('a')} }

// dense returns the inputs as *tensor.Dense of one dtype.
func dense(vs []G.Value, n int) ([]*tensor.Dense, error) {
	if len(vs) != n {
		return nil, fmt.Errorf("got %d inputs, want %d", len(vs), n)
	}
	out := make([]*tensor.Dense, n)
	for i, v := range vs {
		d, ok := v.(*tensor.Dense)
		if !ok {
			return nil, fmt.Errorf("input %d is %T, want *tensor.Dense", i, v)
		}
		if i > 0 && d.Dtype() != out[0].Dtype() {
			return nil, fmt.Errorf("input %d is %v, want %v", i, d.Dtype(), out[0].Dtype())
		}
		out[i] = d
	}
	return out, nil
}

// slices returns the backing arrays of ts as []T, or false if their dtype
// is not T.
func slices[T float](ts []*tensor.Dense) ([][]T, bool) {
	out := make([][]T, len(ts))
	for i, t := range ts {
		s, ok := t.Data().([]T)
		if !ok {
			return nil, false
		}
		out[i] = s
	}
	return out, true
}

// dispatch runs f32 or f64 on the inputs' backing arrays and returns the
// output tensor of the given shape.
func dispatch(ins []*tensor.Dense, shape tensor.Shape,
	f32 func(in [][]float32, out []float32), f64 func(in [][]float64, out []float64)) (G.Value, error) {
	out := tensor.New(tensor.WithShape(shape...), tensor.Of(ins[0].Dtype()))
	if s, ok := slices[float32](ins); ok {
		f32(s, out.Data().([]float32))
		return out, nil
	}
	if s, ok := slices[float64](ins); ok {
		f64(s, out.Data().([]float64))
		return out, nil
	}
	return nil, fmt.Errorf("dtype %v not supported", ins[0].Dtype())
}

// ---- batch norm (training) fused with ReLU ----
//
// Graph: st = bnStats(x); y = bnRelu(x, st, γ, β). The gradient of y
// treats st as part of bnRelu (the full batch-norm derivative, through the
// batch statistics): pg = bnParamGrad(x, st, γ, β, dy) gives [dγ; dβ] and
// dx = bnInputGrad(x, st, γ, β, dy, pg). Each pass over x happens once.

// bnStatsOp returns [2 C]: row 0 the per-channel mean, row 1 the biased
// variance of x [C N H W] over (N, H, W) of x [C N H W], accumulated in float64 in a
// fixed order. Not differentiable itself: bnRelu's gradient accounts for it.
type bnStatsOp struct{ opBase }

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
	return dispatch(ins, tensor.Shape{2, s[0]},
		func(in [][]float32, out []float32) { channelStats(in[0], out, s) },
		func(in [][]float64, out []float64) { channelStats(in[0], out, s) })
}

func shape4(name string, d G.DimSizer) (tensor.Shape, error) {
	s, ok := d.(tensor.Shape)
	if !ok || len(s) != 4 {
		return nil, fmt.Errorf("%s: input shape %v, want 4 dims", name, d)
	}
	return s, nil
}

// channelStats writes the per-channel mean then biased variance of x.
func channelStats[T float](x, out []T, s tensor.Shape) {
	n, c, hw := 1, s[0], s[1]*s[2]*s[3] // [C N H W]: one block per channel
	m := float64(n * hw)
	for ch := 0; ch < c; ch++ {
		var sum float64
		for b := 0; b < n; b++ {
			for _, v := range x[(b*c+ch)*hw : (b*c+ch+1)*hw] {
				sum += float64(v)
			}
		}
		mu := sum / m
		var sq float64
		for b := 0; b < n; b++ {
			for _, v := range x[(b*c+ch)*hw : (b*c+ch+1)*hw] {
				d := float64(v) - mu
				sq += d * d
			}
		}
		out[ch], out[c+ch] = T(mu), T(sq/m)
	}
}

// affine returns the per-channel scale a = γ/√(σ²+eps), the shift
// β − μ·a and 1/√(σ²+eps) from the statistics st [2 C].
func affine[T float](st, gamma, beta []T, ch int) (a, shift T, inv float64) {
	c := len(gamma)
	inv = 1 / math.Sqrt(float64(st[c+ch])+bnEps)
	af := float64(gamma[ch]) * inv
	return T(af), T(float64(beta[ch]) - float64(st[ch])*af), inv
}

// bnReluOp computes relu(x·a + shift) per channel for x [C N H W], with a
// and shift from the batch statistics st (see affine): training-mode batch
// norm fused with ReLU.
type bnReluOp struct{ opBase }

func (bnReluOp) Arity() int { return 4 }
func (bnReluOp) Type() hm.Type {
	return hm.NewFnType(tensorType(4), tensorType(2), tensorType(1), tensorType(1), tensorType(4))
}
func (o bnReluOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := shape4(o.name, in[0])
	if err != nil {
		return nil, err
	}
	return s.Clone(), nil
}

func (o bnReluOp) Do(vs ...G.Value) (G.Value, error) {
	ins, err := dense(vs, 4)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.name, err)
	}
	s := ins[0].Shape()
	return dispatch(ins, s,
		func(in [][]float32, out []float32) { bnForward(in[0], in[1], in[2], in[3], out, s) },
		func(in [][]float64, out []float64) { bnForward(in[0], in[1], in[2], in[3], out, s) })
}

func bnForward[T float](x, st, gamma, beta, y []T, s tensor.Shape) {
	n, c, hw := 1, s[0], s[1]*s[2]*s[3] // [C N H W]: one block per channel
	for ch := 0; ch < c; ch++ {
		a, sh, _ := affine(st, gamma, beta, ch)
		for b := 0; b < n; b++ {
			off := (b*c + ch) * hw
			dst := y[off : off+hw]
			for i, v := range x[off : off+hw] {
				dst[i] = max(v*a+sh, 0)
			}
		}
	}
}

// DiffWRT: the statistics input is differentiated through inside
// bnInputGrad, so Gorgonia must not try to.
func (bnReluOp) DiffWRT(int) []bool { return []bool{true, false, true, true} }
func (o bnReluOp) SymDiff(in G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	x, st, gamma, beta := in[0], in[1], in[2], in[3]
	pg, err := G.ApplyOp(bnParamGradOp{opBase{"bnParamGrad"}}, x, st, gamma, beta, grad)
	if err != nil {
		return nil, err
	}
	dx, err := G.ApplyOp(bnInputGradOp{opBase{"bnInputGrad"}}, x, st, gamma, beta, grad, pg)
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

// bnParamGradOp returns [2 C]: dγ = Σ dz·x̂ and dβ = Σ dz per channel,
// where dz = dy·[x·a + shift > 0] and x̂ = (x − μ)/√(σ²+eps).
type bnParamGradOp struct{ opBase }

func (bnParamGradOp) Arity() int { return 5 }
func (bnParamGradOp) Type() hm.Type {
	return hm.NewFnType(tensorType(4), tensorType(2), tensorType(1), tensorType(1), tensorType(4), tensorType(2))
}
func (o bnParamGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := shape4(o.name, in[0])
	if err != nil {
		return nil, err
	}
	return tensor.Shape{2, s[0]}, nil
}

func (o bnParamGradOp) Do(vs ...G.Value) (G.Value, error) {
	ins, err := dense(vs, 5)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.name, err)
	}
	s := ins[0].Shape()
	return dispatch(ins, tensor.Shape{2, s[0]},
		func(in [][]float32, out []float32) { bnParamGrad(in[0], in[1], in[2], in[3], in[4], out, s) },
		func(in [][]float64, out []float64) { bnParamGrad(in[0], in[1], in[2], in[3], in[4], out, s) })
}

func bnParamGrad[T float](x, st, gamma, beta, dy, out []T, s tensor.Shape) {
	n, c, hw := 1, s[0], s[1]*s[2]*s[3] // [C N H W]: one block per channel
	for ch := 0; ch < c; ch++ {
		a, sh, inv := affine(st, gamma, beta, ch)
		mu := float64(st[ch])
		var sdz, sdzx float64 // Σ dz, Σ dz·x
		for b := 0; b < n; b++ {
			off := (b*c + ch) * hw
			g := dy[off : off+hw]
			if x32, ok := any(x[off : off+hw]).([]float32); ok {
				s1, s2 := paramGrad32(x32, any(g).([]float32), float32(a), float32(sh))
				sdz, sdzx = sdz+s1, sdzx+s2
				continue
			}
			for i, v := range x[off : off+hw] {
				if v*a+sh > 0 {
					sdz += float64(g[i])
					sdzx += float64(g[i]) * float64(v)
				}
			}
		}
		out[ch] = T((sdzx - mu*sdz) * inv)
		out[c+ch] = T(sdz)
	}
}

// reluKeep32 returns g where z > 0 (or z is +0) and 0 elsewhere, without
// a branch: the ReLU mask is random, so a branch mispredicts half the time.
func reluKeep32(z, g float32) float32 {
	keep := ^uint32(int32(math.Float32bits(z)) >> 31)
	if z == 0 { // -0 and +0 alike: not kept, as the forward max(z, 0) is flat there
		keep = 0
	}
	return math.Float32frombits(math.Float32bits(g) & keep)
}

func paramGrad32(x, g []float32, a, sh float32) (sdz, sdzx float64) {
	g = g[:len(x)]
	for i, v := range x {
		d := reluKeep32(v*a+sh, g[i])
		sdz += float64(d)
		sdzx += float64(d) * float64(v)
	}
	return sdz, sdzx
}

func inputGrad32(x, g, dst []float32, a, sh, p, q, k float32) {
	g, dst = g[:len(x)], dst[:len(x)]
	for i, v := range x {
		dst[i] = v*p + q + k*reluKeep32(v*a+sh, g[i])
	}
}

// bnInputGradOp returns dx = (γ/√(σ²+eps))·(dz − dβ/M − x̂·dγ/M) for
// M = N·H·W, given pg = [dγ; dβ] from bnParamGradOp.
type bnInputGradOp struct{ opBase }

func (bnInputGradOp) Arity() int { return 6 }
func (bnInputGradOp) Type() hm.Type {
	return hm.NewFnType(tensorType(4), tensorType(2), tensorType(1), tensorType(1), tensorType(4), tensorType(2), tensorType(4))
}
func (o bnInputGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := shape4(o.name, in[0])
	if err != nil {
		return nil, err
	}
	return s.Clone(), nil
}

func (o bnInputGradOp) Do(vs ...G.Value) (G.Value, error) {
	ins, err := dense(vs, 6)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.name, err)
	}
	s := ins[0].Shape()
	return dispatch(ins, s,
		func(in [][]float32, out []float32) { bnInputGrad(in[0], in[1], in[2], in[3], in[4], in[5], out, s) },
		func(in [][]float64, out []float64) { bnInputGrad(in[0], in[1], in[2], in[3], in[4], in[5], out, s) })
}

func bnInputGrad[T float](x, st, gamma, beta, dy, pg, dx []T, s tensor.Shape) {
	n, c, hw := 1, s[0], s[1]*s[2]*s[3] // [C N H W]: one block per channel
	m := float64(n * hw)
	for ch := 0; ch < c; ch++ {
		a, sh, inv := affine(st, gamma, beta, ch)
		k := float64(gamma[ch]) * inv
		mu, dgamma, dbeta := float64(st[ch]), float64(pg[ch]), float64(pg[c+ch])
		// dx = k·dz + (p·x + q) with the x̂ term expanded: x̂ = (x − μ)·inv
		p := -k * dgamma * inv / m
		q := -k*dbeta/m + k*dgamma*inv*mu/m
		kt, pt, qt := T(k), T(p), T(q)
		for b := 0; b < n; b++ {
			off := (b*c + ch) * hw
			g, dst := dy[off:off+hw], dx[off:off+hw]
			if x32, ok := any(x[off : off+hw]).([]float32); ok {
				inputGrad32(x32, any(g).([]float32), any(dst).([]float32),
					float32(a), float32(sh), float32(pt), float32(qt), float32(kt))
				continue
			}
			for i, v := range x[off : off+hw] {
				r := v*pt + qt
				if v*a+sh > 0 {
					r += kt * g[i]
				}
				dst[i] = r
			}
		}
	}
}

// ---- evaluation: per-channel affine map fused with ReLU ----

// affineReluOp computes relu(x·a + b) for x [C N H W] and per-channel a, b
// [C]: batch norm with running statistics folded into a and b. Not
// differentiable (evaluation only).
type affineReluOp struct{ opBase }

func (affineReluOp) Arity() int { return 3 }
func (affineReluOp) Type() hm.Type {
	return hm.NewFnType(tensorType(4), tensorType(1), tensorType(1), tensorType(4))
}
func (o affineReluOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, ok := in[0].(tensor.Shape)
	if !ok || len(s) != 4 {
		return nil, fmt.Errorf("%s: input shape %v, want 4 dims", o.name, in[0])
	}
	return s.Clone(), nil
}

func (o affineReluOp) Do(vs ...G.Value) (G.Value, error) {
	ins, err := dense(vs, 3)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.name, err)
	}
	s := ins[0].Shape()
	return dispatch(ins, s,
		func(in [][]float32, out []float32) { affineReluInto(in[0], in[1], in[2], out, s) },
		func(in [][]float64, out []float64) { affineReluInto(in[0], in[1], in[2], out, s) })
}

func affineReluInto[T float](x, a, sh, y []T, s tensor.Shape) {
	n, c, hw := 1, s[0], s[1]*s[2]*s[3] // [C N H W]: one block per channel
	for b := 0; b < n; b++ {
		for ch := 0; ch < c; ch++ {
			off := (b*c + ch) * hw
			for i, v := range x[off : off+hw] {
				y[off+i] = max(v*a[ch]+sh[ch], 0)
			}
		}
	}
}
