package params

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"testing"
)

func TestCloneSharesNoMemory(t *testing.T) {
	v := Vector{1, 2, 3}
	c := v.Clone()
	c[0] = 9
	if v[0] != 1 {
		t.Errorf("writing the clone changed the original: %v", v)
	}
	if Vector(nil).Clone() != nil {
		t.Error("Clone(nil) is not nil")
	}
}

func TestEqualComparesBits(t *testing.T) {
	nan := float32(math.NaN())
	negZero := float32(math.Copysign(0, -1))
	tests := []struct {
		name string
		a, b Vector
		want bool
	}{
		{"same", Vector{1, 2}, Vector{1, 2}, true},
		{"differs", Vector{1, 2}, Vector{1, 3}, false},
		{"length", Vector{1, 2}, Vector{1}, false},
		{"same NaN", Vector{nan}, Vector{nan}, true},
		{"signed zeros", Vector{0}, Vector{negZero}, false},
		{"one ulp", Vector{1}, Vector{math.Nextafter32(1, 2)}, false},
		{"empty and nil", Vector{}, nil, true},
	}
	for _, tt := range tests {
		if got := tt.a.Equal(tt.b); got != tt.want {
			t.Errorf("%s: Equal = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestSHA256HashesLittleEndianBytes(t *testing.T) {
	for _, n := range []int{0, 1, 3, 1024, 1025, 5000} {
		v := make(Vector, n)
		raw := make([]byte, 0, 4*n)
		for i := range v {
			v[i] = float32(i)*0.37 - 11
			b := math.Float32bits(v[i])
			raw = append(raw, byte(b), byte(b>>8), byte(b>>16), byte(b>>24))
		}
		sum := sha256.Sum256(raw)
		if got, want := v.SHA256(), hex.EncodeToString(sum[:]); got != want {
			t.Errorf("n=%d: SHA256() = %s, want %s", n, got, want)
		}
	}
	// One value, by hand: 1.0f is 0x3f800000, bytes 00 00 80 3f.
	sum := sha256.Sum256([]byte{0, 0, 0x80, 0x3f})
	if got := (Vector{1}).SHA256(); got != hex.EncodeToString(sum[:]) {
		t.Errorf("SHA256([1]) = %s", got)
	}
}

func TestCheckFiniteNamesFirstBadValue(t *testing.T) {
	if err := (Vector{1, -2, 3e38}).CheckFinite(); err != nil {
		t.Errorf("finite vector: %v", err)
	}
	err := Vector{1, float32(math.Inf(-1)), float32(math.NaN())}.CheckFinite()
	if !errors.Is(err, ErrNonFinite) || err.Error() != "params: value 1 is -Inf: non-finite value" {
		t.Errorf("CheckFinite = %v", err)
	}
}

func TestGlobalNormIsL2(t *testing.T) {
	if got := globalNorm(Vector{3, 4}); got != 5 {
		t.Errorf("globalNorm(3,4) = %v, want 5", got)
	}
	if got := globalNorm(nil); got != 0 {
		t.Errorf("globalNorm(nil) = %v", got)
	}
	// float32 squares would overflow; float64 accumulation must not.
	if got := globalNorm(Vector{3e37, 4e37}); math.Abs(got-5e37)/5e37 > 1e-7 {
		t.Errorf("globalNorm(3e37, 4e37) = %v, want 5e37", got)
	}
	if got := globalNorm(Vector{1, float32(math.NaN())}); !math.IsNaN(got) {
		t.Errorf("globalNorm with NaN = %v", got)
	}
}

func TestFirstNonFinite(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	tests := []struct {
		v    []float32
		want int
	}{
		{nil, -1},
		{[]float32{0, -0, 1, -1, math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32}, -1},
		{[]float32{1, nan}, 1},
		{[]float32{inf, nan}, 0},
		{[]float32{1, 2, -inf}, 2},
	}
	for _, tt := range tests {
		if got := Vector(tt.v).FirstNonFinite(); got != tt.want {
			t.Errorf("FirstNonFinite(%v) = %d, want %d", tt.v, got, tt.want)
		}
	}
	// Every position of a long vector, for each kind of non-finite value
	// (NaN with other payloads too), and the largest finite values around
	// it, starting on an 8-byte boundary and off it: the block check must
	// find exactly the first.
	for _, bad := range []float32{nan, inf, -inf, math.Float32frombits(0x7f800001), math.Float32frombits(0xffc00000)} {
		for n := 1; n <= 100; n++ {
			for at := 0; at < n; at++ {
				off := at % 2
				v := make(Vector, n+1)[off : off+n]
				for i := range v {
					v[i] = math.MaxFloat32
					if i%2 == 1 {
						v[i] = -math.MaxFloat32
					}
				}
				v[at] = bad
				if at+3 < n {
					v[at+3] = nan
				}
				if got := v.FirstNonFinite(); got != at {
					t.Fatalf("n %d, %v at %d: FirstNonFinite = %d", n, bad, at, got)
				}
			}
		}
	}
}

func BenchmarkFirstNonFinite(b *testing.B) {
	v := make(Vector, 111680)
	for i := range v {
		v[i] = float32(i%1000) * 1e-3
	}
	b.SetBytes(int64(4 * len(v)))
	for b.Loop() {
		if v.FirstNonFinite() != -1 {
			b.Fatal("finite vector")
		}
	}
}

// naiveFirstNonFinite is the plain loop FirstNonFinite replaced: the
// reference its block check must agree with, and its benchmark's baseline.
func naiveFirstNonFinite(v Vector) int {
	for i, x := range v {
		if x-x != 0 {
			return i
		}
	}
	return -1
}

func BenchmarkFirstNonFiniteNaive(b *testing.B) {
	v := make(Vector, 111680)
	for i := range v {
		v[i] = float32(i%1000) * 1e-3
	}
	b.SetBytes(int64(4 * len(v)))
	for b.Loop() {
		if naiveFirstNonFinite(v) != -1 {
			b.Fatal("finite vector")
		}
	}
}

func FuzzFirstNonFinite(f *testing.F) {
	f.Add([]byte{0, 0, 0x80, 0x7f, 1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, b []byte) {
		v := make(Vector, len(b)/4)
		for i := range v {
			v[i] = math.Float32frombits(uint32(b[4*i]) | uint32(b[4*i+1])<<8 | uint32(b[4*i+2])<<16 | uint32(b[4*i+3])<<24)
		}
		if got, want := v.FirstNonFinite(), naiveFirstNonFinite(v); got != want {
			t.Fatalf("FirstNonFinite = %d, the plain loop %d", got, want)
		}
	})
}
