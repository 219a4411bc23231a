package coordinator

import (
	"errors"
	"math"
	"testing"

	"github.com/fsl-project/fsl/params"
)

// stepResults are deterministic results of step v of a trainer's job: one
// per shard, with gradients and statistics of the model's sizes.
func stepResults(tr *Trainer, v int) []params.Result {
	rs := make([]params.Result, tr.spec.Shards)
	for i := range rs {
		g := make(params.Vector, tr.layout.Size())
		st := make(params.Vector, tr.state.Size())
		for k := range g {
			g[k] = float32(math.Sin(float64(k*(i+1)+v))) * 1e-2
		}
		for k := range st {
			st[k] = float32(math.Cos(float64(k+i+v))) + 1
		}
		rs[i] = params.Result{Step: v, Shard: i, Version: v, Loss: 1 + float64(i)/7, Count: 3 + i, Grads: g, Stats: st}
	}
	return rs
}

// TestTrainerSumsShardsAheadWithTheSameBits: whatever prefix of a step's
// shards is summed by Add as they are accepted, Apply ends with the bits of
// summing them all at once, step after step; Add refuses shards out of
// order and of other steps, and a failed Apply starts the step's sums over.
func TestTrainerSumsShardsAheadWithTheSameBits(t *testing.T) {
	spec := JobSpec{ID: "sums", Size: 16, Shards: 4, Steps: 10}.WithDefaults()
	ref, err := NewTrainer(spec)
	if err != nil {
		t.Fatal(err)
	}
	for v := 0; v < 3; v++ {
		if err := ref.Apply(stepResults(ref, v)); err != nil {
			t.Fatal(err)
		}
	}
	for ahead := 0; ahead <= spec.Shards; ahead++ {
		tr, err := NewTrainer(spec)
		if err != nil {
			t.Fatal(err)
		}
		for v := 0; v < 3; v++ {
			rs := stepResults(tr, v)
			for i := 0; i < ahead; i++ {
				if err := tr.Add(rs[i]); err != nil {
					t.Fatalf("ahead %d, step %d: Add shard %d: %v", ahead, v, i, err)
				}
			}
			if err := tr.Apply(rs); err != nil {
				t.Fatalf("ahead %d, step %d: Apply: %v", ahead, v, err)
			}
		}
		if tr.Params.SHA256() != ref.Params.SHA256() || tr.State.SHA256() != ref.State.SHA256() ||
			math.Float64bits(tr.LastLoss) != math.Float64bits(ref.LastLoss) || tr.Version != 3 {
			t.Errorf("%d shards summed ahead: version %d, loss %v; all at once: version 3, loss %v, other bits", ahead, tr.Version, tr.LastLoss, ref.LastLoss)
		}
	}

	tr, err := NewTrainer(spec)
	if err != nil {
		t.Fatal(err)
	}
	rs := stepResults(tr, 0)
	for _, tc := range []struct {
		name string
		r    params.Result
	}{
		{"shard 1 before shard 0", rs[1]},
		{"another step", stepResults(tr, 1)[0]},
	} {
		if err := tr.Add(tc.r); err == nil {
			t.Errorf("Add of %s: no error", tc.name)
		}
	}
	if err := tr.Add(rs[0]); err != nil {
		t.Fatal(err)
	}
	bad := append([]params.Result(nil), rs...)
	bad[2].Grads = bad[2].Grads[:10]
	if err := tr.Apply(bad); !errors.Is(err, params.ErrLength) {
		t.Fatalf("Apply with a short gradient: %v, want ErrLength", err)
	}
	if tr.Added() != 0 || tr.Version != 0 {
		t.Fatalf("after a failed Apply: %d shards summed, version %d; want 0 and 0", tr.Added(), tr.Version)
	}
	if err := tr.Apply(rs); err != nil || tr.Params.SHA256() != stepOne(t, spec).Params.SHA256() {
		t.Errorf("Apply after a failed one: %v, or other bits than a fresh trainer's first step", err)
	}
}

func stepOne(t *testing.T, spec JobSpec) *Trainer {
	t.Helper()
	tr, err := NewTrainer(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Apply(stepResults(tr, 0)); err != nil {
		t.Fatal(err)
	}
	return tr
}
