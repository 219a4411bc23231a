package checkpoints

import (
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/fsl-project/fsl/params"
)

// Sizes of the model the acceptance tests and benchmarks use: a Conv-4-like
// network of ~112k parameters with Adam's two moment vectors and a small
// batch-norm state, about 1.3 MB per checkpoint.
const (
	modelParams = 112_000
	modelState  = 512
)

func openTest(t testing.TB, path string, opts ...Option) *Store {
	t.Helper()
	s, err := Open(path, opts...)
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func tempStore(t testing.TB, opts ...Option) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fsl.db")
	return openTest(t, path, opts...), path
}

func testLayout(n int) params.Layout {
	return params.Layout{Entries: []params.Entry{{Name: "w", Shape: []int{n}, Offset: 0}}}
}

func testJob(id string, nParams int) JobRecord {
	return JobRecord{
		ID:         id,
		Spec:       []byte("model: conv4\nloss: triplet\n"),
		SpecFormat: "yaml",
		Layout:     testLayout(nParams),
		Dataset:    "omniglot-background-sha256:abcd",
	}
}

// fill writes a deterministic pseudo-random pattern that depends on seed.
func fill(v params.Vector, seed uint64) params.Vector {
	x := seed*0x9E3779B97F4A7C15 + 1
	for i := range v {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		v[i] = float32(int32(x>>32)) / (1 << 31)
	}
	return v
}

// makeCheckpoint builds the checkpoint a run would have at step; its
// contents depend only on (step, sizes), so a reader can check them.
func makeCheckpoint(step uint64, nParams, nState int) *Checkpoint {
	return &Checkpoint{
		Step:   step,
		Params: fill(make(params.Vector, nParams), step),
		State:  fill(make(params.Vector, nState), step+1<<40),
		Optimizer: OptimizerState{
			Kind:    "adam",
			Step:    step,
			Scalars: map[string]float64{"lr": 1e-3, "beta1": 0.9, "beta2": 0.999},
			Vectors: []NamedVector{
				{Name: "m", Values: fill(make(params.Vector, nParams), step+2<<40)},
				{Name: "v", Values: fill(make(params.Vector, nParams), step+3<<40)},
			},
		},
		Metrics: map[string]float64{"loss": 1 / float64(step+1), "val_acc": float64(step%7) / 7},
		Created: time.Unix(1700000000, int64(step)).UTC(),
	}
}

func sameVector(a, b params.Vector) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// equalCheckpoint compares bit for bit.
func equalCheckpoint(t testing.TB, got, want *Checkpoint) {
	t.Helper()
	if got.Step != want.Step {
		t.Fatalf("Step = %d, want %d", got.Step, want.Step)
	}
	if !sameVector(got.Params, want.Params) || !sameVector(got.State, want.State) {
		t.Fatalf("step %d: params or state differ", want.Step)
	}
	if got.Optimizer.Kind != want.Optimizer.Kind || got.Optimizer.Step != want.Optimizer.Step {
		t.Fatalf("step %d: optimizer %q/%d, want %q/%d", want.Step, got.Optimizer.Kind, got.Optimizer.Step, want.Optimizer.Kind, want.Optimizer.Step)
	}
	if len(got.Optimizer.Vectors) != len(want.Optimizer.Vectors) {
		t.Fatalf("step %d: %d optimizer vectors, want %d", want.Step, len(got.Optimizer.Vectors), len(want.Optimizer.Vectors))
	}
	for i, v := range want.Optimizer.Vectors {
		g := got.Optimizer.Vectors[i]
		if g.Name != v.Name || !sameVector(g.Values, v.Values) {
			t.Fatalf("step %d: optimizer vector %d (%q) differs", want.Step, i, v.Name)
		}
	}
	if !sameFloats(got.Optimizer.Scalars, want.Optimizer.Scalars) || !sameFloats(got.Metrics, want.Metrics) {
		t.Fatalf("step %d: scalars/metrics %v %v, want %v %v", want.Step, got.Optimizer.Scalars, got.Metrics, want.Optimizer.Scalars, want.Metrics)
	}
	if !got.Created.Equal(want.Created) {
		t.Fatalf("step %d: Created %v, want %v", want.Step, got.Created, want.Created)
	}
}

func sameFloats(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || math.Float64bits(v) != math.Float64bits(w) {
			return false
		}
	}
	return true
}
