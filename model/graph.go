package model

import (
	"fmt"
	"sync"

	"github.com/fsl-project/fsl/model/cpu"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// bnEps is added to the batch variance before the inverse square root,
// as the kernels do.
const bnEps = cpu.BNEps

// buildMu serialises graph construction: Gorgonia shares constant nodes
// (the zero of Rectify, for one) between graphs and is not goroutine-safe
// while building.
var buildMu sync.Mutex

// gorgoniaBLAS hands the kernels' BLAS (OpenBLAS when installed) to
// Gorgonia's own ops once: gorgonia.Use sets a process-wide value that
// running graphs read.
var gorgoniaBLAS sync.Once

// useBLAS chooses the process's BLAS for the kernels and Gorgonia.
func useBLAS() {
	gorgoniaBLAS.Do(func() { G.Use(cpu.UseBLAS()) })
}

// protect runs f, turning a Gorgonia panic into an error wrapping
// ErrCompute; what names the operation.
func protect(what string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: gorgonia panicked: %v: %w", what, r, ErrCompute)
		}
	}()
	if err := f(); err != nil {
		return fmt.Errorf("%s: %v: %w", what, err, ErrCompute)
	}
	return nil
}

// must unwraps a Gorgonia constructor's result; construction runs under
// protect, which turns the panic back into an error.
func must(n *G.Node, err error) *G.Node {
	if err != nil {
		panic(err)
	}
	return n
}

// input creates a graph input node bound to a fresh zero tensor of the
// given shape and returns both; the caller fills the tensor before each
// run.
func input(g *G.ExprGraph, dt tensor.Dtype, name string, shape ...int) (*G.Node, *tensor.Dense) {
	t := tensor.New(tensor.WithShape(shape...), tensor.Of(dt))
	n := G.NewTensor(g, dt, len(shape), G.WithShape(shape...), G.WithName(name), G.WithValue(t))
	return n, t
}

// scalar is a constant of the graph's dtype.
func scalar(dt tensor.Dtype, v float64) *G.Node {
	if dt == tensor.Float64 {
		return G.NewConstant(v)
	}
	return G.NewConstant(float32(v))
}

// conv is a 3×3 convolution with padding 1 and no bias of x [C N H W]
// with w [F C 3 3], giving [F N H W] (convOp); input marks x as the
// network's input, which needs no gradient.
func conv(k *cpu.Kernels, x, w *G.Node, input bool) *G.Node {
	return must(G.ApplyOp(newConvOp(k, input), x, w))
}

// embedRows turns the last feature map h [F N s s] (channel major) into
// embeddings [N F·s·s], each row in (channel, y, x) order.
func embedRows(h *G.Node, n, f, s2 int) *G.Node {
	t := must(G.Transpose(must(G.Reshape(h, tensor.Shape{f, n, s2})), 1, 0, 2))
	return must(G.Reshape(t, tensor.Shape{n, f * s2}))
}

// bnReluPool is training-mode batch norm with batch statistics st (from
// bnStats of the same x) fused with ReLU and 2×2 max-pooling.
func bnReluPool(k *cpu.Kernels, x, st, gamma, beta *G.Node) *G.Node {
	return must(G.ApplyOp(bnReluPoolOp{opBase{"bnReluPool"}, k, new(outBuf), new(cpu.Routes)}, x, st, gamma, beta))
}

// bnStats is the [2 C] mean and biased variance bnReluPool normalises with.
func bnStats(k *cpu.Kernels, x *G.Node) *G.Node {
	return must(G.ApplyOp(bnStatsOp{opBase{"bnStats"}, k, new(outBuf)}, x))
}

// affineReluPool is evaluation-mode batch norm, folded into a per-channel
// scale and shift, fused with ReLU and 2×2 max-pooling.
func affineReluPool(k *cpu.Kernels, x, a, shift *G.Node) *G.Node {
	return must(G.ApplyOp(affineReluPoolOp{opBase{"affineReluPool"}, k, new(outBuf)}, x, a, shift))
}
