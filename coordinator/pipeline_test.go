package coordinator

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/fsl-project/fsl/episodes"
	"github.com/fsl-project/fsl/model"
)

// TestPipelineWindow follows a machine at depth k through its first steps:
// the k steps after the current one are leased at once, each at
// LagVersion; the results of a step ahead are kept while the current one
// is collected; a step that completed ahead is handed over as soon as the
// step before it is applied; and results at the wrong version are invalid.
func TestPipelineWindow(t *testing.T) {
	for _, k := range []int{1, 2} {
		t.Run(fmt.Sprint("depth", k), func(t *testing.T) {
			const S, T = 2, 6
			cfg := testConfig()
			cfg.ShardsPerStep, cfg.TotalSteps, cfg.Pipeline = S, T, k
			cfg.BackupWhenRemaining, cfg.MaxLeasesPerWorker = 0, 0
			m, err := New(cfg, 0)
			if err != nil {
				t.Fatal(err)
			}
			now := t0
			var leases []Lease
			for range (k + 1) * S {
				rep, err := m.RequestWork("w", now)
				if err != nil {
					t.Fatal(err)
				}
				l, ok := rep.(Lease)
				if !ok {
					t.Fatalf("request %d: %T, want a lease of the open steps", len(leases), rep)
				}
				leases = append(leases, l)
			}
			for i, l := range leases {
				if l.Step != i/S || l.Shard != i%S || l.Version != 0 {
					t.Fatalf("lease %d: step %d shard %d version %d, want step %d shard %d version 0", i, l.Step, l.Shard, l.Version, i/S, i%S)
				}
			}
			if rep, _ := m.RequestWork("w", now); !isWait(rep) {
				t.Fatalf("with every open shard leased: %T, want Wait", rep)
			}
			// A result at the version a depth-0 job would use is wrong here.
			bad := validResult(cfg, "w", 1, 0)
			bad.Version = 1
			if v := m.Result(bad, now); v.Outcome != Invalid || v.Reason != ReasonWrongVersion {
				t.Fatalf("step 1 at version 1 with pipeline %d: %+v, want wrong version", k, v)
			}
			// Step 1 completes before step 0: nothing is handed over yet.
			for shard := range S {
				if v := m.Result(validResult(cfg, "w", 1, shard), now); v.Outcome != Accepted {
					t.Fatalf("step 1 shard %d: %+v", shard, v)
				}
			}
			if m.HasReady() {
				t.Fatalf("outputs before step 0 completed: %+v", m.Ready())
			}
			for shard := range S {
				m.Result(validResult(cfg, "w", 0, shard), now)
			}
			out := m.Ready()
			if len(out) != 1 {
				t.Fatalf("outputs %+v, want step 0's StepComplete", out)
			}
			if sc, ok := out[0].(StepComplete); !ok || sc.Step != 0 || sc.Version != 0 {
				t.Fatalf("outputs %+v, want StepComplete of step 0 at version 0", out)
			}
			// While step 0 is applied, the steps ahead may still be leased
			// (here all are, so Wait); Advance then hands step 1 over at once.
			if rep, _ := m.RequestWork("w2", now); !isWait(rep) {
				t.Fatalf("during the apply: %T, want Wait (every open shard leased or done)", rep)
			}
			if err := m.Advance(1); err != nil {
				t.Fatal(err)
			}
			out = m.Ready()
			if len(out) != 1 {
				t.Fatalf("after Advance(1): %+v, want step 1's StepComplete", out)
			}
			if sc, ok := out[0].(StepComplete); !ok || sc.Step != 1 || sc.Version != LagVersion(1, k) || sc.Results[1].Shard != 1 {
				t.Fatalf("after Advance(1): %+v, want StepComplete of step 1 at version %d", out, LagVersion(1, k))
			}
			// Step 1+k opened at Advance(1): computed at version 1.
			rep, _ := m.RequestWork("w2", now)
			if l, ok := rep.(Lease); !ok || l.Step != 1+k || l.Version != 1 {
				t.Fatalf("after Advance(1): %+v, want a lease of step %d at version 1", rep, 1+k)
			}
			if err := m.invariants(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestPipelineCheckpointCarriesTheEarlierVersions checks that a pipelined
// trainer's checkpoint holds the parameter versions its next steps are
// computed from, that a trainer of the same depth restores them, and that
// one of another depth refuses the checkpoint, naming the pipeline.
func TestPipelineCheckpointCarriesTheEarlierVersions(t *testing.T) {
	spec := DefaultSpec()
	spec.Steps, spec.Pipeline = 3, 1
	spec = spec.WithDefaults()
	ds, err := episodes.Open(spec.Dataset, spec.DatasetOptions())
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(spec.ModelConfig())
	if err != nil {
		t.Fatal(err)
	}
	var at2 string
	tr, err := RunLocal(context.Background(), spec, ds, m.Grad, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := tr.Checkpoint(nil)
	var names []string
	for _, nv := range c.Optimizer.Vectors {
		names = append(names, nv.Name)
		if nv.Name == lagName(2) {
			at2 = nv.Values.SHA256()
		}
	}
	if at2 == "" || at2 == tr.Params.SHA256() {
		t.Fatalf("checkpoint of step 3 at pipeline 1 holds vectors %v: want the parameters of version 2 (%s), not version 3's", names, at2)
	}
	same, err := NewTrainer(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := same.Restore(c); err != nil {
		t.Fatal(err)
	}
	if p, ok := same.ParamsAt(2); !ok || p.SHA256() != at2 {
		t.Fatalf("restored trainer: version 2 held %v, sha %s, want %s", ok, p.SHA256(), at2)
	}
	if p, v, err := same.ParamsFor(3); err != nil || v != 2 || p.SHA256() != at2 {
		t.Fatalf("ParamsFor(3) = version %d, %v: want version 2", v, err)
	}
	for _, depth := range []int{0, 2} {
		other := spec
		other.Pipeline = depth
		o, err := NewTrainer(other)
		if err != nil {
			t.Fatal(err)
		}
		if err := o.Restore(c); err == nil || !strings.Contains(err.Error(), "pipeline") {
			t.Errorf("pipeline %d restoring a pipeline-1 checkpoint: %v, want an error naming the pipeline", depth, err)
		}
	}
	if _, _, err := same.ParamsFor(5); err == nil {
		t.Errorf("ParamsFor(5) at version 3: no error")
	}
}

// TestPipelineDepthIsValidated: the spec and the machine's config refuse
// a depth outside 0..MaxPipeline.
func TestPipelineDepthIsValidated(t *testing.T) {
	for _, k := range []int{-1, MaxPipeline + 1} {
		spec := DefaultSpec()
		spec.Pipeline = k
		if err := spec.WithDefaults().Validate(); err == nil || !strings.Contains(err.Error(), "pipeline") {
			t.Errorf("spec with pipeline %d: %v, want an error naming pipeline", k, err)
		}
		cfg := testConfig()
		cfg.Pipeline = k
		if _, err := New(cfg, 0); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "Pipeline") {
			t.Errorf("machine with pipeline %d: %v, want ErrInvalidConfig naming Pipeline", k, err)
		}
	}
}
