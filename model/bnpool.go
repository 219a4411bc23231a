package model

import (
	"fmt"

	"github.com/chewxy/hm"
	"github.com/fsl-project/fsl/model/cpu"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Batch norm, ReLU and 2×2 max-pooling fused into one op per direction
// (model/cpu's bnpool.go says how they compute). Training graph:
//
//	st = bnStats(x)                           // [2 C]: mean, biased variance
//	y  = bnReluPool(x, st, γ, β)              // pool(relu(x·a + shift))
//	pg = bnPoolParamGrad(x, st, γ, β, dy)     // [dγ; dβ]
//	dx = bnPoolInputGrad(x, st, γ, β, dy, pg) // through the batch statistics
//
// The forward op records each window's routes (cpu.Routes) for its two
// gradient ops, which run after it in the same run.

// bnStatsOp returns [2 C]: row 0 the per-channel mean, row 1 the biased
// variance of x [C N H W] over (N, H, W), accumulated in float64 in a
// fixed order. Not differentiable itself: the gradient of bnReluPool
// accounts for it.
type bnStatsOp struct {
	opBase
	k   *cpu.Kernels
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
		func(in [][]float32, out []float32) { cpu.ChannelStats(o.k, in[0], out, s[0], s[1]*s[2]*s[3]) },
		func(in [][]float64, out []float64) { cpu.ChannelStats(o.k, in[0], out, s[0], s[1]*s[2]*s[3]) })
}

// bnReluPoolOp: (x [C N H W], st [2 C], γ [C], β [C]) → [C N H/2 W/2],
// training-mode batch norm with the statistics st, ReLU, max-pooling.
type bnReluPoolOp struct {
	opBase
	k     *cpu.Kernels
	out   *outBuf
	route *cpu.Routes
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
		func(in [][]float32, out []float32) {
			cpu.BNReluPool(o.k, in[0], in[1], in[2], in[3], out, s[0], s[1], s[2], s[3], o.route)
		},
		func(in [][]float64, out []float64) {
			cpu.BNReluPool(o.k, in[0], in[1], in[2], in[3], out, s[0], s[1], s[2], s[3], o.route)
		})
}

// DiffWRT: the statistics input is differentiated through inside
// bnPoolInputGrad, so Gorgonia must not try to.
func (bnReluPoolOp) DiffWRT(int) []bool { return []bool{true, false, true, true} }
func (o bnReluPoolOp) SymDiff(in G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	x, st, gamma, beta := in[0], in[1], in[2], in[3]
	pg, err := G.ApplyOp(bnPoolParamGradOp{opBase{"bnPoolParamGrad"}, o.k, new(outBuf), o.route}, x, st, gamma, beta, grad)
	if err != nil {
		return nil, err
	}
	dx, err := G.ApplyOp(bnPoolInputGradOp{opBase{"bnPoolInputGrad"}, o.k, new(outBuf), o.route}, x, st, gamma, beta, grad, pg)
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

// bnPoolParamGradOp returns [2 C]: dγ = Σ dz·x̂ and dβ = Σ dz per channel.
type bnPoolParamGradOp struct {
	opBase
	k     *cpu.Kernels
	out   *outBuf
	route *cpu.Routes // filled by the forward op
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
			cpu.BNPoolParamGrad(o.k, in[0], in[1], in[2], in[3], in[4], out, s[0], s[1], s[2], s[3], o.route)
		},
		func(in [][]float64, out []float64) {
			cpu.BNPoolParamGrad(o.k, in[0], in[1], in[2], in[3], in[4], out, s[0], s[1], s[2], s[3], o.route)
		})
}

// bnPoolInputGradOp returns dx = a·dz − (dβ + x̂·dγ)·a/M given
// pg = [dγ; dβ] from bnPoolParamGradOp.
type bnPoolInputGradOp struct {
	opBase
	k     *cpu.Kernels
	out   *outBuf
	route *cpu.Routes // filled by the forward op
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
			cpu.BNPoolInputGrad(o.k, in[0], in[1], in[2], in[3], in[4], in[5], out, s[0], s[1], s[2], s[3], o.route)
		},
		func(in [][]float64, out []float64) {
			cpu.BNPoolInputGrad(o.k, in[0], in[1], in[2], in[3], in[4], in[5], out, s[0], s[1], s[2], s[3], o.route)
		})
}

// affineReluPoolOp: (x [C N H W], a [C], shift [C]) → [C N H/2 W/2],
// pool(relu(x·a + shift)): evaluation-mode batch norm (running statistics
// folded into a and shift), ReLU and max-pooling. Not differentiable.
type affineReluPoolOp struct {
	opBase
	k   *cpu.Kernels
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
		func(in [][]float32, out []float32) {
			cpu.AffineReluPool(o.k, in[0], in[1], in[2], out, s[0], s[1], s[2], s[3])
		},
		func(in [][]float64, out []float64) {
			cpu.AffineReluPool(o.k, in[0], in[1], in[2], out, s[0], s[1], s[2], s[3])
		})
}
