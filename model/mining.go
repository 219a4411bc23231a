package model

import (
	"fmt"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Triplet mining over a params.KindClasses batch as a Gorgonia op pair:
//
//	t  = mined(D)       // [terms]: D[a,p] − D[a,n] of each mined triplet
//	dD = minedGrad(D, dt) // [n n]: dt scattered to (a,p) and, negated, (a,n)
//
// The choice of triplets is piecewise constant in the distances, so the
// loss's gradient is that of the chosen triplets' terms; the gradient op
// repeats the (deterministic) choice from the same D rather than keeping
// it between the two ops.

// triplet is one mined triplet: anchor, positive, negative image indices.
type triplet struct{ a, p, n int }

// minedTerms is the number of triplets mining picks from n images, k per
// class: one per anchor (batch-hard) or one per (anchor, positive) pair
// (semi-hard).
func minedTerms(mining Mining, n, k int) int {
	if mining == MiningSemiHard {
		return n * (k - 1)
	}
	return n
}

// mineTriplets picks the triplets of n images, k per class and class by
// class (image i is of class i/k), from their squared distances dist
// [n n] (row-major), as Mining's doc says: batch-hard, per anchor in
// order; semi-hard, per anchor and then per positive in order. Ties go to
// the lower index. n/k ≥ 2 classes and k ≥ 2 images per class.
func mineTriplets[T float](dist []T, n, k int, mining Mining) []triplet {
	out := make([]triplet, 0, minedTerms(mining, n, k))
	for a := 0; a < n; a++ {
		row := dist[a*n : (a+1)*n]
		lo, hi := a/k*k, a/k*k+k // a's class
		if mining == MiningSemiHard {
			for p := lo; p < hi; p++ {
				if p == a {
					continue
				}
				semi, far := -1, -1
				for j := 0; j < n; j++ {
					if j >= lo && j < hi {
						continue
					}
					if row[j] > row[p] && (semi < 0 || row[j] < row[semi]) {
						semi = j
					}
					if far < 0 || row[j] > row[far] {
						far = j
					}
				}
				if semi < 0 {
					semi = far
				}
				out = append(out, triplet{a, p, semi})
			}
			continue
		}
		hp, hn := -1, -1
		for j := 0; j < n; j++ {
			switch {
			case j == a:
			case j >= lo && j < hi:
				if hp < 0 || row[j] > row[hp] {
					hp = j
				}
			default:
				if hn < 0 || row[j] < row[hn] {
					hn = j
				}
			}
		}
		out = append(out, triplet{a, hp, hn})
	}
	return out
}

// minedOp: D [n n] → [terms], D[a,p] − D[a,n] for each triplet
// mineTriplets picks, in its order.
type minedOp struct {
	opBase
	mining Mining
	k      int // images per class
	out    *outBuf
}

func (minedOp) Arity() int    { return 1 }
func (minedOp) Type() hm.Type { return hm.NewFnType(tensorType(2), tensorType(1)) }
func (o minedOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	n, err := squareSide(o.name, in[0])
	if err != nil {
		return nil, err
	}
	return tensor.Shape{minedTerms(o.mining, n, o.k)}, nil
}

func (o minedOp) Do(vs ...G.Value) (G.Value, error) {
	ins, err := dense(vs, 1)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.name, err)
	}
	n := ins[0].Shape()[0]
	return dispatch(ins, tensor.Shape{minedTerms(o.mining, n, o.k)}, o.out,
		func(in [][]float32, out []float32) { minedForward(in[0], out, n, o.k, o.mining) },
		func(in [][]float64, out []float64) { minedForward(in[0], out, n, o.k, o.mining) })
}

func minedForward[T float](dist, out []T, n, k int, mining Mining) {
	for i, t := range mineTriplets(dist, n, k, mining) {
		out[i] = dist[t.a*n+t.p] - dist[t.a*n+t.n]
	}
}

func (minedOp) DiffWRT(int) []bool { return []bool{true} }
func (o minedOp) SymDiff(in G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	dD, err := G.ApplyOp(minedGradOp{opBase{o.name + "Grad"}, o.mining, o.k, new(outBuf)}, in[0], grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dD}, nil
}

// minedGradOp: (D [n n], dt [terms]) → dD [n n], each term's dt added at
// (a,p) and subtracted at (a,n), in mineTriplets' order.
type minedGradOp struct {
	opBase
	mining Mining
	k      int
	out    *outBuf
}

func (minedGradOp) Arity() int { return 2 }
func (minedGradOp) Type() hm.Type {
	return hm.NewFnType(tensorType(2), tensorType(1), tensorType(2))
}
func (o minedGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	n, err := squareSide(o.name, in[0])
	if err != nil {
		return nil, err
	}
	return tensor.Shape{n, n}, nil
}

func (o minedGradOp) Do(vs ...G.Value) (G.Value, error) {
	ins, err := dense(vs, 2)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.name, err)
	}
	n := ins[0].Shape()[0]
	if want := minedTerms(o.mining, n, o.k); ins[1].Shape().TotalSize() != want {
		return nil, fmt.Errorf("%s: gradient of %d terms, want %d", o.name, ins[1].Shape().TotalSize(), want)
	}
	return dispatch(ins, tensor.Shape{n, n}, o.out,
		func(in [][]float32, out []float32) { minedBackward(in[0], in[1], out, n, o.k, o.mining) },
		func(in [][]float64, out []float64) { minedBackward(in[0], in[1], out, n, o.k, o.mining) })
}

func minedBackward[T float](dist, g, out []T, n, k int, mining Mining) {
	clear(out)
	for i, t := range mineTriplets(dist, n, k, mining) {
		out[t.a*n+t.p] += g[i]
		out[t.a*n+t.n] -= g[i]
	}
}

// squareSide returns n of a [n n] input shape.
func squareSide(name string, d G.DimSizer) (int, error) {
	s, ok := d.(tensor.Shape)
	if !ok || len(s) != 2 || s[0] != s[1] {
		return 0, fmt.Errorf("%s: input shape %v, want [n n]", name, d)
	}
	return s[0], nil
}
