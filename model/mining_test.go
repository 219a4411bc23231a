package model

import (
	"errors"
	"fmt"
	stdslices "slices"
	"testing"

	"github.com/fsl-project/fsl/params"
	"gorgonia.org/tensor"
)

// TestMiningPicksTheHardestTriplets mines a hand-built set of six 1-D
// embeddings, two classes of three: x = 0, 1, 5 (class 0) and 3, 4, 10
// (class 1), squared distances between them. The wanted triplets are
// worked out by hand from Mining's doc, ties included (anchor 3's closest
// negatives, images 1 and 2, are both at 4: the lower index wins).
func TestMiningPicksTheHardestTriplets(t *testing.T) {
	x := []float64{0, 1, 5, 3, 4, 10}
	const n, k = 6, 3
	dist := make([]float64, n*n)
	for i := range x {
		for j := range x {
			dist[i*n+j] = (x[i] - x[j]) * (x[i] - x[j])
		}
	}
	for _, tc := range []struct {
		mining Mining
		want   []triplet
	}{
		{MiningBatchHard, []triplet{{0, 2, 3}, {1, 2, 3}, {2, 0, 4}, {3, 5, 1}, {4, 5, 2}, {5, 3, 2}}},
		// per (anchor, positive): the closest negative farther than the
		// positive; none farther (2,0: 25 vs at most 25; 3,5; 4,5): the
		// farthest negative
		{MiningSemiHard, []triplet{
			{0, 1, 3}, {0, 2, 5}, {1, 0, 3}, {1, 2, 5}, {2, 0, 5}, {2, 1, 5},
			{3, 4, 1}, {3, 5, 0}, {4, 3, 1}, {4, 5, 0}, {5, 3, 1}, {5, 4, 1},
		}},
	} {
		t.Run(tc.mining.String(), func(t *testing.T) {
			got := mineTriplets(dist, n, k, tc.mining)
			if !stdslices.Equal(got, tc.want) {
				t.Fatalf("mined %v\nwant  %v", got, tc.want)
			}
			// the op's terms are d(a,p) − d(a,n) of those triplets, and its
			// gradient scatters each term's gradient to them
			op := minedOp{opBase{"mined"}, tc.mining, k, nil}
			v, err := op.Do(tensor.New(tensor.WithShape(n, n), tensor.WithBacking(dist)))
			if err != nil {
				t.Fatal(err)
			}
			terms := v.Data().([]float64)
			g := make([]float64, len(terms))
			for i, tr := range tc.want {
				if want := dist[tr.a*n+tr.p] - dist[tr.a*n+tr.n]; terms[i] != want {
					t.Errorf("term %d %v: %v, want %v", i, tr, terms[i], want)
				}
				g[i] = float64(i + 1)
			}
			gop := minedGradOp{opBase{"minedGrad"}, tc.mining, k, nil}
			dv, err := gop.Do(tensor.New(tensor.WithShape(n, n), tensor.WithBacking(dist)),
				tensor.New(tensor.WithShape(len(g)), tensor.WithBacking(g)))
			if err != nil {
				t.Fatal(err)
			}
			want := make([]float64, n*n)
			for i, tr := range tc.want {
				want[tr.a*n+tr.p] += g[i]
				want[tr.a*n+tr.n] -= g[i]
			}
			if got := dv.Data().([]float64); !stdslices.Equal(got, want) {
				t.Errorf("gradient %v, want %v", got, want)
			}
		})
	}
}

// TestOneStepLowersTheNewLosses takes one small SGD step on a tiny batch
// for each loss added beside the first three: the same batch's loss must
// fall.
func TestOneStepLowersTheNewLosses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   Config
		batch *params.Batch
		lr    float32
	}{
		{"matching", Config{Loss: params.KindEpisode, Matching: true, Size: 16, Filters: 8}, synthEpisode(16, 4, 2, 2, 21), 0.05},
		{"batch-hard", Config{Loss: params.KindClasses, Mining: MiningBatchHard, Size: 16, Filters: 8}, synthClasses(16, 4, 3, 22), 0.005},
		{"semi-hard", Config{Loss: params.KindClasses, Mining: MiningSemiHard, Size: 16, Filters: 8}, synthClasses(16, 4, 3, 23), 0.005},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := mustNew(t, tc.cfg)
			p, s := m.Init(4)
			r, err := m.Grad(p, s, tc.batch)
			if err != nil {
				t.Fatal(err)
			}
			for i, g := range r.Grads {
				p[i] -= tc.lr * g
			}
			r2, err := m.Grad(p, s, tc.batch)
			if err != nil {
				t.Fatal(err)
			}
			if !(r.Loss > 0 && r2.Loss < r.Loss) {
				t.Fatalf("loss %v after one step, %v before: want a decrease", r2.Loss, r.Loss)
			}
			t.Logf("loss %.5f → %.5f", r.Loss, r2.Loss)
		})
	}
}

// TestNewLossesCountAndCheckTheirBatches: Count is what the loss averages
// over (queries; anchors for batch-hard; anchor-positive pairs for
// semi-hard), a classes batch must be class by class with equal runs, and
// the CUDA backend is refused for these losses rather than computing
// another.
func TestNewLossesCountAndCheckTheirBatches(t *testing.T) {
	match := mustNew(t, Config{Loss: params.KindEpisode, Matching: true, Size: 16, Filters: 2})
	hard := mustNew(t, Config{Loss: params.KindClasses, Size: 16, Filters: 2})
	semi := mustNew(t, Config{Loss: params.KindClasses, Mining: MiningSemiHard, Size: 16, Filters: 2})
	if hard.Config().Mining != MiningBatchHard {
		t.Errorf("classes model mines %s by default, want batch-hard", hard.Config().Mining)
	}
	for _, tc := range []struct {
		m     *Model
		batch *params.Batch
		count int
	}{
		{match, synthEpisode(16, 3, 2, 4, 1), 12},
		{hard, synthClasses(16, 3, 4, 1), 12},
		{semi, synthClasses(16, 3, 4, 1), 36},
	} {
		p, s := tc.m.Init(1)
		r, err := tc.m.Grad(p, s, tc.batch)
		if err != nil || r.Count != tc.count {
			t.Errorf("%+v: count %d, %v; want %d", tc.m.Config(), r.Count, err, tc.count)
		}
	}
	bad := func(labels ...int32) *params.Batch {
		b := synthClasses(16, 1, len(labels), 1)
		b.Labels = labels
		return b
	}
	p, s := hard.Init(1)
	for _, b := range []*params.Batch{
		bad(1, 1, 1),          // one class
		bad(1, 2, 1, 2),       // not class by class
		bad(1, 1, 2, 2, 2),    // unequal runs
		bad(1, 1, 2, 2, 1, 1), // a class twice
		bad(1, 1, 2, 3),       // a class of one image
	} {
		if _, err := hard.Grad(p, s, b); !errors.Is(err, ErrBatch) {
			t.Errorf("labels %v: error %v, want ErrBatch", b.Labels, err)
		}
	}
	for _, cfg := range []Config{
		{Loss: params.KindEpisode, Matching: true},
		{Loss: params.KindClasses},
	} {
		if _, err := New(cfg, GPU(0)); !errors.Is(err, ErrConfig) {
			t.Errorf("New(%+v, GPU(0)): %v, want ErrConfig (no CUDA head for it)", cfg, err)
		}
	}
	for _, cfg := range []Config{
		{Loss: params.KindTriplets, Matching: true},
		{Loss: params.KindTriplets, Mining: MiningSemiHard},
		{Loss: params.KindClasses, Mining: 3},
	} {
		if _, err := New(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("New(%+v): %v, want ErrConfig", cfg, err)
		}
	}
}

func ExampleParseMining() {
	m, err := ParseMining("semi-hard")
	fmt.Println(m, err)
	_, err = ParseMining("hard")
	fmt.Println(err)
	// Output:
	// semi-hard <nil>
	// mining "hard": want batch-hard or semi-hard
}
