package model

import (
	"fmt"

	"github.com/chewxy/hm"
	"github.com/fsl-project/fsl/model/cpu"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The 3×3 convolution (pad 1, stride 1, no bias) as Gorgonia ops over
// model/cpu's kernels (cpu.ConvForward, cpu.ConvGradX, cpu.ConvGradW),
// which say how they compute.

// convOp: (x [C N H W], w [F C 3 3]) → y [F N H W]. With input set, x is
// the network's input and gets no gradient.
type convOp struct {
	opBase
	input bool
	k     *cpu.Kernels
	out   *outBuf
}

func newConvOp(k *cpu.Kernels, input bool) convOp {
	name := "conv3x3"
	if input {
		name = "conv3x3/input"
	}
	return convOp{opBase{name}, input, k, new(outBuf)}
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
		func(in [][]float32, out []float32) {
			cpu.ConvForward(o.k, in[0], in[1], out, xs[0], xs[1], xs[2], xs[3], ws[0])
		},
		func(in [][]float64, out []float64) {
			cpu.ConvForward(o.k, in[0], in[1], out, xs[0], xs[1], xs[2], xs[3], ws[0])
		})
}

func (o convOp) DiffWRT(int) []bool { return []bool{!o.input, true} }
func (o convOp) SymDiff(in G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	dw, err := G.ApplyOp(convGradWOp{opBase{"convGradW"}, o.k, new(outBuf)}, in[0], grad)
	if err != nil {
		return nil, err
	}
	if o.input {
		return G.Nodes{nil, dw}, nil
	}
	dx, err := G.ApplyOp(convGradXOp{opBase{"convGradX"}, o.k, new(outBuf)}, in[1], grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx, dw}, nil
}

// convGradXOp: (w [F C 3 3], dy [F N H W]) → dx [C N H W].
type convGradXOp struct {
	opBase
	k   *cpu.Kernels
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
		func(in [][]float32, out []float32) {
			cpu.ConvGradX(o.k, in[0], in[1], out, ws[0], ws[1], ds[1], ds[2], ds[3])
		},
		func(in [][]float64, out []float64) {
			cpu.ConvGradX(o.k, in[0], in[1], out, ws[0], ws[1], ds[1], ds[2], ds[3])
		})
}

// convGradWOp: (x [C N H W], dy [F N H W]) → dw [F C 3 3].
type convGradWOp struct {
	opBase
	k   *cpu.Kernels
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
		func(in [][]float32, out []float32) {
			cpu.ConvGradW(o.k, in[0], in[1], out, xs[0], xs[1], xs[2], xs[3], ds[0])
		},
		func(in [][]float64, out []float64) {
			cpu.ConvGradW(o.k, in[0], in[1], out, xs[0], xs[1], xs[2], xs[3], ds[0])
		})
}
