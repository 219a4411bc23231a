package model

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Custom Gorgonia ops for the hot paths Gorgonia's primitives make slow
// (measured): batch norm built from broadcasts materialises every [C]
// operand to the full [C N H W] shape (and sums it back in the gradient);
// Conv2d's final NHWC→NCHW transpose walks an n-dimensional iterator
// element by element, and its im2col, col2im and max-pooling loops are
// generic. Convolution is in conv.go; batch norm fused with ReLU and
// max-pooling in bnpool.go; the shared plumbing here. What an op computes
// is a pure function of its inputs; the only thing an op keeps between
// runs is the memory of its output (outBuf). Every gradient is checked
// against finite differences (gradcheck_test.go) and against Gorgonia's
// stock ops (stock_test.go).

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
// output tensor of the given shape, backed by buf (see outBuf). The output
// holds whatever the last run left: f32 and f64 must write all of it.
func dispatch(ins []*tensor.Dense, shape tensor.Shape, buf *outBuf,
	f32 func(in [][]float32, out []float32), f64 func(in [][]float64, out []float64)) (G.Value, error) {
	if s, ok := slices[float32](ins); ok {
		out := bufFor[float32](buf, shape.TotalSize())
		f32(s, out)
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(out)), nil
	}
	if s, ok := slices[float64](ins); ok {
		out := bufFor[float64](buf, shape.TotalSize())
		f64(s, out)
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(out)), nil
	}
	return nil, fmt.Errorf("dtype %v not supported", ins[0].Dtype())
}

// shape44 returns the shapes of a two-input op's inputs, both 4-D.
func shape44(name string, in []G.DimSizer) (a, b tensor.Shape, err error) {
	if len(in) != 2 {
		return nil, nil, fmt.Errorf("%s: %d inputs, want 2", name, len(in))
	}
	if a, err = shape4(name, in[0]); err != nil {
		return nil, nil, err
	}
	if b, err = shape4(name, in[1]); err != nil {
		return nil, nil, err
	}
	return a, b, nil
}

func shape4(name string, d G.DimSizer) (tensor.Shape, error) {
	s, ok := d.(tensor.Shape)
	if !ok || len(s) != 4 {
		return nil, fmt.Errorf("%s: input shape %v, want 4 dims", name, d)
	}
	return s, nil
}
