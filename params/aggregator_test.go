package params

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// wideVector draws values over many orders of magnitude and both signs, so
// that summing in a different order usually changes the rounded result.
func wideVector(r *rand.Rand, n int) Vector {
	v := make(Vector, n)
	for i := range v {
		v[i] = float32((r.Float64()*2 - 1) * math.Pow(2, float64(r.IntN(60)-30)))
	}
	return v
}

// inOrderMean is the documented formula, written out: float64 sums of
// count*value in shard order, divided by the total, rounded to float32.
func inOrderMean(vs []Vector, counts []int) Vector {
	out := make(Vector, len(vs[0]))
	total := 0
	for _, c := range counts {
		total += c
	}
	for i := range out {
		var s float64
		for k, v := range vs {
			s += float64(counts[k]) * float64(v[i])
		}
		out[i] = float32(s / float64(total))
	}
	return out
}

// arrivalOrderMean is what the aggregator must not do.
func arrivalOrderMean(vs []Vector, counts []int, order []int) Vector {
	out := make(Vector, len(vs[0]))
	total := 0
	for _, c := range counts {
		total += c
	}
	for i := range out {
		var s float32
		for _, k := range order {
			s += float32(counts[k]) * vs[k][i]
		}
		out[i] = s / float32(total)
	}
	return out
}

func TestAggregatorSumsInShardOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(42, 42))
	orderMattered := 0
	for trial := range 200 {
		shards := 1 + r.IntN(12)
		n := 1 + r.IntN(64)
		vs := make([]Vector, shards)
		counts := make([]int, shards)
		for k := range vs {
			vs[k] = wideVector(r, n)
			counts[k] = 1 + r.IntN(100)
		}
		want := inOrderMean(vs, counts)
		a, err := NewAggregator(shards, n)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 { // and again after Reset
			a.Reset()
			for k := range shards {
				if a.Complete() {
					t.Fatalf("trial %d: complete before shard %d", trial, k)
				}
				if err := a.Add(k, vs[k], counts[k]); err != nil {
					t.Fatal(err)
				}
			}
			got, err := a.Mean()
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(want) {
				t.Fatalf("trial %d: %s, shard order sums to %s", trial, got.SHA256(), want.SHA256())
			}
		}
		order := r.Perm(shards)
		if !arrivalOrderMean(vs, counts, order).Equal(arrivalOrderMean(vs, counts, slices.Sorted(slices.Values(order)))) {
			orderMattered++
		}
	}
	// The inputs must be able to tell the orders apart, or this test
	// proves nothing.
	if orderMattered < 50 {
		t.Errorf("summing in another order changed the result in only %d of 200 trials", orderMattered)
	}
}

func TestAggregatorWeightsByCount(t *testing.T) {
	two, _ := NewAggregator(2, 2)
	for k, v := range []Vector{{1, 2}, {3, 4}} {
		if err := two.Add(k, v, 1+2*k); err != nil {
			t.Fatal(err)
		}
	}
	got, err := two.Mean()
	if err != nil {
		t.Fatal(err)
	}
	if want := (Vector{2.5, 3.5}); !got.Equal(want) {
		t.Errorf("mean weighted 1:3 = %v, want %v", got, want)
	}
	// A one-value aggregator averages losses the same way.
	a, _ := NewAggregator(3, 1)
	for k, loss := range []float32{2, 1, 0.5} {
		if err := a.Add(k, Vector{loss}, 2); err != nil {
			t.Fatal(err)
		}
	}
	if m, _ := a.Mean(); m[0] != 3.5/3 || a.Total() != 6 {
		t.Errorf("mean loss %v total %d, want %v and 6", m[0], a.Total(), float32(3.5/3))
	}
}

func TestAggregatorRejectsBadResultsKeepingNothing(t *testing.T) {
	a, err := NewAggregator(3, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Add(0, Vector{1, 1}, 1); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		shard int
		v     Vector
		count int
		want  error
		msg   string
	}{
		{"duplicate", 0, Vector{9, 9}, 1, ErrShard, "shard 0: already added"},
		{"out of order", 2, Vector{9, 9}, 1, ErrShard, "shard 2: out of order, want shard 1"},
		{"negative shard", -1, Vector{9, 9}, 1, ErrShard, "shard -1: want 0..2"},
		{"shard past the end", 3, Vector{9, 9}, 1, ErrShard, "shard 3: want 0..2"},
		{"zero count", 1, Vector{9, 9}, 0, ErrShard, "count 0"},
		{"negative count", 1, Vector{9, 9}, -4, ErrShard, "count -4"},
		{"huge count", 1, Vector{9, 9}, math.MaxInt, ErrShard, "exceed 2^53"},
		{"short vector", 1, Vector{9}, 1, ErrLength, "length 1, want 2"},
		{"NaN", 1, Vector{9, float32(math.NaN())}, 1, ErrNonFinite, "value 1 is NaN"},
		{"Inf", 1, Vector{float32(math.Inf(1)), 9}, 1, ErrNonFinite, "value 0 is +Inf"},
	}
	for _, tt := range tests {
		err := a.Add(tt.shard, tt.v, tt.count)
		if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: err = %v, want %v mentioning %q", tt.name, err, tt.want, tt.msg)
		}
	}
	if got := a.Missing(); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("Missing() = %v after rejected adds, want [1 2]", got)
	}
	if _, err := a.Mean(); !errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), "[1 2]") {
		t.Errorf("Mean() before completion: %v", err)
	}
	if !a.Has(0) || a.Has(1) || a.Has(7) {
		t.Error("Has() disagrees with what was added")
	}
	for _, k := range []int{1, 2} {
		if err := a.Add(k, Vector{4, 4}, 1); err != nil {
			t.Fatal(err)
		}
	}
	if m, err := a.Mean(); err != nil || !m.Equal(Vector{3, 3}) {
		t.Errorf("Mean() = %v, %v, want [3 3]: a rejected result leaked in", m, err)
	}
}

func TestNewAggregatorRejectsBadSizes(t *testing.T) {
	for _, tt := range []struct{ shards, n int }{{0, 3}, {-1, 3}, {2, -1}, {2, MaxLen + 1}} {
		if _, err := NewAggregator(tt.shards, tt.n); err == nil {
			t.Errorf("NewAggregator(%d, %d) succeeded", tt.shards, tt.n)
		}
	}
}
