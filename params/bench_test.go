package params

import (
	"math/rand/v2"
	"testing"
)

// benchLen is about the size of a Conv-4 embedding with 64 channels
// (112,576 parameters).
const benchLen = 112576

func benchVectors(shards int) []Vector {
	r := rand.New(rand.NewPCG(9, 9))
	vs := make([]Vector, shards)
	for i := range vs {
		vs[i] = wideVector(r, benchLen)
	}
	return vs
}

// BenchmarkAggregator8Shards measures one step's Add of 8 shard gradients
// plus Mean.
func BenchmarkAggregator8Shards(b *testing.B) {
	const shards = 8
	vs := benchVectors(shards)
	a, err := NewAggregator(shards, benchLen)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(4 * benchLen * shards))
	for b.Loop() {
		a.Reset()
		for k := range shards {
			if err := a.Add(k, vs[k], 10+k); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := a.Mean(); err != nil {
			b.Fatal(err)
		}
	}
}

func benchStep(b *testing.B, cfg OptimizerConfig) {
	l, err := NewLayout(Spec{"w", []int{benchLen}})
	if err != nil {
		b.Fatal(err)
	}
	opt, err := NewOptimizer(cfg, l)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	p, g := New(l), New(l)
	for i := range g {
		g[i] = float32(r.NormFloat64() * 1e-3)
	}
	b.SetBytes(int64(4 * benchLen))
	s := 0
	for b.Loop() {
		if err := opt.Step(p, g, s); err != nil {
			b.Fatal(err)
		}
		s++
	}
}

func BenchmarkAdamStep(b *testing.B) {
	benchStep(b, OptimizerConfig{Name: "adam", WeightDecay: 1e-4, ClipNorm: 1})
}

func BenchmarkSGDMomentumStep(b *testing.B) {
	benchStep(b, OptimizerConfig{Name: "sgd", Momentum: 0.9, Nesterov: true, WeightDecay: 1e-4})
}

func BenchmarkEncodeFloat32s(b *testing.B) {
	v := benchVectors(1)[0]
	buf := make([]byte, 0, 4*len(v))
	b.SetBytes(int64(4 * len(v)))
	for b.Loop() {
		e := NewEncoder(buf[:0])
		e.Float32s(v)
	}
}

func BenchmarkDecodeFloat32s(b *testing.B) {
	v := benchVectors(1)[0]
	buf := encodeVector(v)
	b.SetBytes(int64(4 * len(v)))
	for b.Loop() {
		d := NewDecoder(buf)
		d.Float32s("v", d.Len32("v", 4))
		if d.Err() != nil {
			b.Fatal(d.Err())
		}
	}
}
