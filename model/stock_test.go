package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/fsl-project/fsl/model/cpu"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The package's ops against Gorgonia's stock ops, one op at a time, on
// random inputs in float64: outputs, and the gradients of Σ out ⊙ R (R
// random) with respect to every differentiable input.

// graphRun builds a graph with build, which returns the output and the
// inputs to differentiate Σ out ⊙ r with respect to; it returns the
// output's values and those gradients.
func graphRun(t *testing.T, r []float64, build func(g *G.ExprGraph) (*G.Node, []*G.Node)) (out []float64, grads [][]float64) {
	t.Helper()
	g := G.NewGraph()
	y, wrt := build(g)
	rn := G.NewTensor(g, tensor.Float64, y.Dims(), G.WithShape(y.Shape()...), G.WithName("r"),
		G.WithValue(tensor.New(tensor.WithShape(y.Shape()...), tensor.WithBacking(r))))
	loss, err := G.Sum(must(G.HadamardProd(y, rn)))
	if err != nil {
		t.Fatal(err)
	}
	gn, err := G.Grad(loss, wrt...)
	if err != nil {
		t.Fatal(err)
	}
	var yv G.Value
	G.Read(y, &yv) // registers are reused within a run: read results out
	gv := make([]G.Value, len(gn))
	for i, n := range gn {
		G.Read(n, &gv[i])
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	out = append([]float64(nil), yv.Data().([]float64)...)
	for _, v := range gv {
		grads = append(grads, append([]float64(nil), v.Data().([]float64)...))
	}
	return out, grads
}

// leaf is a float64 input node holding v.
func leaf(g *G.ExprGraph, name string, v []float64, shape ...int) *G.Node {
	return G.NewTensor(g, tensor.Float64, len(shape), G.WithShape(shape...), G.WithName(name),
		G.WithValue(tensor.New(tensor.WithShape(shape...), tensor.WithBacking(append([]float64(nil), v...)))))
}

func randVec(rng *rand.Rand, n int, scale float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = scale * rng.NormFloat64()
	}
	return v
}

// swap01 transposes the first two axes of a [A B H W] array.
func swap01(v []float64, a, b, hw int) []float64 {
	out := make([]float64, len(v))
	for i := 0; i < a; i++ {
		for j := 0; j < b; j++ {
			copy(out[(j*a+i)*hw:(j*a+i+1)*hw], v[(i*b+j)*hw:(i*b+j+1)*hw])
		}
	}
	return out
}

// relErr is max|a−b| / max(max|b|, 1e-6): the error relative to the
// tensor's scale.
func relErr[T float](a, b []T) float64 {
	var diff, scale float64
	for i := range b {
		diff = math.Max(diff, math.Abs(float64(a[i])-float64(b[i])))
		scale = math.Max(scale, math.Abs(float64(b[i])))
	}
	return diff / math.Max(scale, 1e-6)
}

func checkClose(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, stock %d", what, len(got), len(want))
	}
	if e := relErr(got, want); e > tol {
		t.Errorf("%s: relative error %.2g > %g", what, e, tol)
	} else {
		t.Logf("%-28s relative error %.2g", what, e)
	}
}

const stockTol = 1e-5

func TestConvMatchesStockConv2d(t *testing.T) {
	if k := cpu.New(1); !k.Winograd(16, 14, 14) || !k.Winograd(20, 7, 9) || k.Winograd(6, 14, 14) {
		t.Fatal("the cases below no longer cover both the im2col and the Winograd path")
	}
	for _, tc := range []struct{ n, c, f, h, w int }{
		{3, 1, 4, 28, 28}, // the network's first block
		{5, 6, 4, 14, 14},
		{4, 3, 5, 7, 9},     // odd, non-square
		{3, 16, 20, 14, 14}, // Winograd (winograd.go)
		{2, 20, 16, 7, 9},   // Winograd, odd sides: cropped tiles
	} {
		rng := rand.New(rand.NewPCG(uint64(tc.n*100+tc.c), 3))
		hw := tc.h * tc.w
		x := randVec(rng, tc.n*tc.c*hw, 1) // NCHW
		wt := randVec(rng, tc.f*tc.c*9, 0.3)
		r := randVec(rng, tc.n*tc.f*hw, 1) // NCHW
		sOut, sGrads := graphRun(t, r, func(g *G.ExprGraph) (*G.Node, []*G.Node) {
			xn, wn := leaf(g, "x", x, tc.n, tc.c, tc.h, tc.w), leaf(g, "w", wt, tc.f, tc.c, 3, 3)
			return must(G.Conv2d(xn, wn, tensor.Shape{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1})), []*G.Node{xn, wn}
		})
		oOut, oGrads := graphRun(t, swap01(r, tc.n, tc.f, hw), func(g *G.ExprGraph) (*G.Node, []*G.Node) {
			xn, wn := leaf(g, "x", swap01(x, tc.n, tc.c, hw), tc.c, tc.n, tc.h, tc.w), leaf(g, "w", wt, tc.f, tc.c, 3, 3)
			return conv(cpu.New(1), xn, wn, false), []*G.Node{xn, wn}
		})
		checkClose(t, "conv output", swap01(oOut, tc.f, tc.n, hw), sOut, stockTol)
		checkClose(t, "conv gradient of x", swap01(oGrads[0], tc.c, tc.n, hw), sGrads[0], stockTol)
		checkClose(t, "conv gradient of w", oGrads[1], sGrads[1], stockTol)
	}
}

// stockBNReluPool is training-mode batch norm over (N, H, W), ReLU and
// 2×2 max-pooling of x [C N H W] from Gorgonia's stock ops: per-channel
// sums and broadcasts as products with a ones vector (Mul), and 1/√ as
// Div and Sqrt, because in v0.9.18 InverseSqrt's gradient disagrees with
// finite differences (and Mean over several axes divides by the wrong
// count).
func stockBNReluPool(g *G.ExprGraph, x, gamma, beta *G.Node) *G.Node {
	s := x.Shape()
	c, m := s[0], s[1]*s[2]*s[3]
	ones := make([]float64, m)
	for i := range ones {
		ones[i] = 1
	}
	col := leaf(g, "ones col", ones, m, 1)
	row := leaf(g, "ones row", ones, 1, m)
	invM := G.NewConstant(1 / float64(m))
	perChannel := func(v *G.Node) *G.Node { return must(G.Mul(v, row)) } // [C 1] → [C M]
	cm := must(G.Reshape(x, tensor.Shape{c, m}))
	mean := must(G.Mul(must(G.Mul(cm, col)), invM))
	cen := must(G.Sub(cm, perChannel(mean)))
	vr := must(G.Mul(must(G.Mul(must(G.Square(cen)), col)), invM))
	inv := must(G.Div(G.NewConstant(1.0), must(G.Sqrt(must(G.Add(vr, G.NewConstant(bnEps)))))))
	xhat := must(G.HadamardProd(cen, perChannel(inv)))
	y := must(G.Add(must(G.HadamardProd(xhat, perChannel(must(G.Reshape(gamma, tensor.Shape{c, 1}))))),
		perChannel(must(G.Reshape(beta, tensor.Shape{c, 1})))))
	y4 := must(G.Reshape(y, s.Clone()))
	return must(G.MaxPool2D(must(G.Rectify(y4)), tensor.Shape{2, 2}, []int{0, 0}, []int{2, 2}))
}

func TestBNReluPoolMatchesStockOps(t *testing.T) {
	for _, tc := range []struct{ c, n, h, w int }{
		{4, 6, 28, 28},
		{3, 5, 7, 7}, // odd: the last row and column are dropped
		{2, 9, 3, 3},
	} {
		rng := rand.New(rand.NewPCG(uint64(tc.c*10+tc.h), 4))
		x := randVec(rng, tc.c*tc.n*tc.h*tc.w, 2)
		for i := range x {
			x[i] += 0.5 // a mean away from zero
		}
		gamma, beta := randVec(rng, tc.c, 1), randVec(rng, tc.c, 0.5)
		r := randVec(rng, tc.c*tc.n*(tc.h/2)*(tc.w/2), 1)
		build := func(own bool) func(g *G.ExprGraph) (*G.Node, []*G.Node) {
			return func(g *G.ExprGraph) (*G.Node, []*G.Node) {
				xn, gn, bn := leaf(g, "x", x, tc.c, tc.n, tc.h, tc.w), leaf(g, "gamma", gamma, tc.c), leaf(g, "beta", beta, tc.c)
				if own {
					k := cpu.New(1)
					return bnReluPool(k, xn, bnStats(k, xn), gn, bn), []*G.Node{xn, gn, bn}
				}
				return stockBNReluPool(g, xn, gn, bn), []*G.Node{xn, gn, bn}
			}
		}
		sOut, sGrads := graphRun(t, r, build(false))
		oOut, oGrads := graphRun(t, r, build(true))
		checkClose(t, "bnReluPool output", oOut, sOut, stockTol)
		// the statistics against a two-pass float64 computation
		st := make([]float64, 2*tc.c)
		cpu.ChannelStats(cpu.New(1), x, st, tc.c, tc.n*tc.h*tc.w)
		m := tc.n * tc.h * tc.w
		want := make([]float64, 2*tc.c)
		for ch := 0; ch < tc.c; ch++ {
			for _, v := range x[ch*m : (ch+1)*m] {
				want[ch] += v / float64(m)
			}
			for _, v := range x[ch*m : (ch+1)*m] {
				want[tc.c+ch] += (v - want[ch]) * (v - want[ch]) / float64(m)
			}
		}
		checkClose(t, "bnStats mean and variance", st, want, 1e-12)
		for i, name := range []string{"x", "gamma", "beta"} {
			checkClose(t, "bnReluPool gradient of "+name, oGrads[i], sGrads[i], stockTol)
		}
	}
}

func TestAffineReluPoolMatchesStockOps(t *testing.T) {
	c, n, h, w := 3, 4, 9, 7
	rng := rand.New(rand.NewPCG(7, 5))
	x, a, sh := randVec(rng, c*n*h*w, 1), randVec(rng, c, 1), randVec(rng, c, 0.5)
	r := randVec(rng, c*n*(h/2)*(w/2), 1)
	sOut, _ := graphRun(t, r, func(g *G.ExprGraph) (*G.Node, []*G.Node) {
		rows := make([]float64, c*n*h*w)
		for i := range rows {
			ch := i / (n * h * w)
			rows[i] = x[i]*a[ch] + sh[ch]
		}
		z := leaf(g, "z", rows, c, n, h, w)
		return must(G.MaxPool2D(must(G.Rectify(z)), tensor.Shape{2, 2}, []int{0, 0}, []int{2, 2})), []*G.Node{z}
	})
	g := G.NewGraph()
	y := affineReluPool(cpu.New(1), leaf(g, "x", x, c, n, h, w), leaf(g, "a", a, c), leaf(g, "shift", sh, c))
	var yv G.Value
	G.Read(y, &yv)
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	checkClose(t, "affineReluPool output", yv.Data().([]float64), sOut, stockTol)
}
