package params

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestAddScaledIsTheGoLoopBitForBit checks the vectorised sum against its
// definition on values that stress rounding: wide exponents, subnormals,
// signed zeros, the largest floats, counts up to 2^53, lengths around the
// block of eight and slices that start off any alignment.
func TestAddScaledIsTheGoLoopBitForBit(t *testing.T) {
	special := []float32{0, float32(math.Copysign(0, -1)), math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32,
		math.MaxFloat32, -math.MaxFloat32, 1, -1, 0x1p-126, 0x1.fffffep-127}
	tests := []struct {
		name   string
		n, off int
		w      float64
	}{
		{"empty", 0, 0, 1},
		{"shorter than a block", 7, 0, 3},
		{"one block", 8, 0, 30},
		{"a block and one", 9, 1, 60},
		{"odd length, odd start", 37, 3, 7},
		{"Conv-4", 111680, 0, 60},
		{"Conv-4 off by one", 111681, 1, 1},
		{"count 2^53", 1000, 2, 1 << 53},
	}
	r := rand.New(rand.NewPCG(5, 7))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := wideVector(r, tc.n+tc.off)
			for i := range v {
				if r.IntN(8) == 0 {
					v[i] = special[r.IntN(len(special))]
				}
			}
			acc := make([]float64, tc.n+tc.off)
			for i := range acc {
				acc[i] = (r.Float64()*2 - 1) * math.Pow(2, float64(r.IntN(80)-40))
			}
			want := append([]float64(nil), acc...)
			addScaledGo(want[tc.off:], v[tc.off:], tc.w)
			addScaled(acc[tc.off:], v[tc.off:], tc.w)
			for i := range acc {
				if math.Float64bits(acc[i]) != math.Float64bits(want[i]) {
					t.Fatalf("acc[%d] = %v (%#x), want %v (%#x)", i, acc[i], math.Float64bits(acc[i]), want[i], math.Float64bits(want[i]))
				}
			}
		})
	}
}

// BenchmarkAddScaled is one Conv-4 shard's sum into the step's float64
// accumulator, against the Go loop that defines it.
func BenchmarkAddScaled(b *testing.B) {
	v := benchVectors(1)[0]
	acc := make([]float64, len(v))
	for _, bc := range []struct {
		name string
		fn   func([]float64, Vector, float64)
	}{{"go", addScaledGo}, {"vector", addScaled}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(4 * len(v)))
			for b.Loop() {
				bc.fn(acc, v, 30)
			}
		})
	}
}
