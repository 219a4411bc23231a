package machine

import (
	"errors"
	"fmt"
	"strings"
	"testing"
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

// TestPipelineDepthIsValidated: the machine's config refuses a depth
// outside 0..MaxPipeline (coordinator's TestSpecPipelineDepthIsValidated:
// the spec's).
func TestPipelineDepthIsValidated(t *testing.T) {
	for _, k := range []int{-1, MaxPipeline + 1} {
		cfg := testConfig()
		cfg.Pipeline = k
		if _, err := New(cfg, 0); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "Pipeline") {
			t.Errorf("machine with pipeline %d: %v, want ErrInvalidConfig naming Pipeline", k, err)
		}
	}
}
