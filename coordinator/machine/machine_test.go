package machine

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

func TestNewJobHasNothingReady(t *testing.T) {
	m, err := New(testConfig(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if m.HasReady() || len(m.Ready()) != 0 {
		t.Fatal("a new job has outputs before any work")
	}
	checkInvariants(t, m)
}

func TestResultsHandedOverInShardOrder(t *testing.T) {
	cfg := testConfig()
	cfg.ShardsPerStep = 8
	m := mustNew(t, cfg, 0)
	workers := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	leases := make([]Lease, len(workers))
	for i, w := range workers {
		leases[i] = mustLease(t, m, w, at(time.Duration(i)*time.Millisecond))
	}
	// Results arrive in a shuffled order; the hand-over must not care.
	rng := rand.New(rand.NewPCG(1, 2))
	order := rng.Perm(len(workers))
	for k, i := range order {
		if m.HasReady() {
			t.Fatalf("output before all shards were in: %#v", m.Ready())
		}
		mustAccept(t, m, validResult(cfg, workers[i], 0, leases[i].Shard), at(time.Second+time.Duration(k)))
		checkInvariants(t, m)
	}
	out := m.Ready()
	if len(out) != 1 {
		t.Fatalf("Ready = %#v, want one StepComplete", out)
	}
	sc := out[0].(StepComplete)
	if sc.Step != 0 || sc.Version != 0 || len(sc.Results) != cfg.ShardsPerStep {
		t.Fatalf("StepComplete step %d version %d with %d results, want step 0 version 0 with %d",
			sc.Step, sc.Version, len(sc.Results), cfg.ShardsPerStep)
	}
	for i, r := range sc.Results {
		if r.Shard != i || r.Grads[0] != gradValue(0, i) {
			t.Errorf("Results[%d] is shard %d with gradient %v, want shard %d with %v", i, r.Shard, r.Grads[0], i, gradValue(0, i))
		}
	}
	if m.Phase() != PhaseComplete {
		t.Fatalf("phase %v, want complete", m.Phase())
	}
}

func TestWorkWaitsWhileStepAwaitsAdvance(t *testing.T) {
	cfg := testConfig()
	m := mustNew(t, cfg, 0)
	completeStep(t, m, "a", at(0))
	mustWait(t, m, "b", at(time.Second))
	// Nothing expires or is re-leased while waiting, however long it takes.
	m.Tick(at(time.Hour))
	mustWait(t, m, "b", at(time.Hour))
	if err := m.Advance(1); err != nil {
		t.Fatal(err)
	}
	l := mustLease(t, m, "b", at(time.Hour+time.Second))
	if l.Step != 1 || l.Version != 1 || l.Shard != 0 || l.Attempt != 1 {
		t.Fatalf("first lease after Advance = %+v, want step 1 version 1 shard 0 attempt 1", l)
	}
	checkInvariants(t, m)
}

func TestAdvanceRejectsWrongCalls(t *testing.T) {
	cfg := testConfig()
	cfg.TotalSteps = 1
	tests := []struct {
		name    string
		prepare func(t *testing.T, m *Machine)
		version int
		want    error
	}{
		{"before any result", func(*testing.T, *Machine) {}, 1, ErrStepIncomplete},
		{"with a shard missing", func(t *testing.T, m *Machine) {
			for range cfg.ShardsPerStep - 1 {
				l := mustLease(t, m, "a", at(0))
				mustAccept(t, m, validResult(cfg, "a", 0, l.Shard), at(0))
			}
		}, 1, ErrStepIncomplete},
		{"to the same version", func(t *testing.T, m *Machine) { completeStep(t, m, "a", at(0)) }, 0, ErrAdvanceVersion},
		{"skipping a version", func(t *testing.T, m *Machine) { completeStep(t, m, "a", at(0)) }, 2, ErrAdvanceVersion},
		{"after the last step", func(t *testing.T, m *Machine) {
			completeStep(t, m, "a", at(0))
			if err := m.Advance(1); err != nil {
				t.Fatal(err)
			}
			m.Ready()
		}, 2, ErrJobDone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustNew(t, cfg, 0)
			tt.prepare(t, m)
			before := m.Status()
			err := m.Advance(tt.version)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Advance(%d) = %v, want %v", tt.version, err, tt.want)
			}
			if after := m.Status(); !reflect.DeepEqual(before, after) {
				t.Fatalf("failed Advance changed the machine:\nbefore %+v\nafter  %+v", before, after)
			}
			if out := m.Ready(); len(out) != 0 {
				t.Fatalf("failed Advance queued %#v", out)
			}
		})
	}
}

// runSteps completes and advances every remaining step and returns all
// outputs other than StepComplete.
func runSteps(t *testing.T, m *Machine) []Output {
	t.Helper()
	var outs []Output
	now := at(0)
	for m.Phase() != PhaseDone {
		sc := completeStep(t, m, "a", now)
		if err := m.Advance(sc.Version + 1); err != nil {
			t.Fatal(err)
		}
		outs = append(outs, m.Ready()...)
		checkInvariants(t, m)
		now = now.Add(time.Second)
	}
	return outs
}

func TestCheckpointCadence(t *testing.T) {
	tests := []struct {
		every, total int
		want         []int // versions checkpointed
	}{
		{every: 0, total: 5, want: []int{5}},
		{every: 1, total: 3, want: []int{1, 2, 3}},
		{every: 2, total: 5, want: []int{2, 4, 5}},
		{every: 3, total: 6, want: []int{3, 6}},
		{every: 10, total: 4, want: []int{4}},
	}
	for _, tt := range tests {
		cfg := testConfig()
		cfg.CheckpointEvery, cfg.TotalSteps = tt.every, tt.total
		m := mustNew(t, cfg, 0)
		var got []int
		for _, o := range runSteps(t, m) {
			if c, ok := o.(CheckpointDue); ok {
				if c.Step != c.Version {
					t.Errorf("CheckpointDue %+v: step and version differ", c)
				}
				got = append(got, c.Version)
			}
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("every %d of %d steps: checkpoints at %v, want %v", tt.every, tt.total, got, tt.want)
		}
	}
}

func TestAdvanceOutputsInOrder(t *testing.T) {
	cfg := testConfig()
	cfg.TotalSteps, cfg.CheckpointEvery = 2, 1
	m := mustNew(t, cfg, 0)
	want := []Output{
		CheckpointDue{Step: 1, Version: 1},
		CheckpointDue{Step: 2, Version: 2}, JobDone{Version: 2},
	}
	if got := runSteps(t, m); !reflect.DeepEqual(got, want) {
		t.Fatalf("outputs %#v, want %#v", got, want)
	}
}

func TestResumeFromStep(t *testing.T) {
	cfg := testConfig()
	cfg.TotalSteps, cfg.CheckpointEvery = 6, 4
	m, err := New(cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Ready(); len(got) != 0 {
		t.Fatalf("first Ready = %#v, want nothing", got)
	}
	l := mustLease(t, m, "a", at(0))
	if l.Step != 3 || l.Version != 3 {
		t.Fatalf("first lease %+v, want step 3 version 3", l)
	}
	if v := m.Result(validResult(cfg, "a", 2, l.Shard), at(0)); v.Reason != ReasonStaleStep {
		t.Fatalf("result for step 2 after resuming at 3: %+v, want stale step", v)
	}
	mustAccept(t, m, validResult(cfg, "a", 3, l.Shard), at(0))
	for range cfg.ShardsPerStep - 1 {
		l := mustLease(t, m, "a", at(0))
		mustAccept(t, m, validResult(cfg, "a", l.Step, l.Shard), at(0))
	}
	if out := m.Ready(); len(out) != 1 {
		t.Fatalf("Ready after step 3 = %#v, want a StepComplete", out)
	}
	if err := m.Advance(4); err != nil {
		t.Fatal(err)
	}
	var ckpts []int
	for _, o := range append(m.Ready(), runSteps(t, m)...) {
		if c, ok := o.(CheckpointDue); ok {
			ckpts = append(ckpts, c.Step)
		}
	}
	// The cadence counts absolute versions, not steps since the resume.
	if want := []int{4, 6}; !reflect.DeepEqual(ckpts, want) {
		t.Fatalf("checkpoints after resume at 3: %v, want %v", ckpts, want)
	}
	if c := m.Counters(); c.StepsAdvanced != 3 || c.Applied != 3*cfg.ShardsPerStep {
		t.Fatalf("counters after resume %+v, want 3 steps and %d applied", c, 3*cfg.ShardsPerStep)
	}
}

func TestResumeAtLastStepIsDone(t *testing.T) {
	cfg := testConfig()
	m, err := New(cfg, cfg.TotalSteps)
	if err != nil {
		t.Fatal(err)
	}
	want := []Output{JobDone{cfg.TotalSteps}}
	if got := m.Ready(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Ready = %#v, want %#v", got, want)
	}
	if r, _ := m.RequestWork("a", at(0)); r != (Done{}) {
		t.Fatalf("RequestWork = %#v, want Done", r)
	}
	checkInvariants(t, m)
}

func TestResumeStepOutOfRangeIsRejected(t *testing.T) {
	cfg := testConfig()
	for _, step := range []int{-1, cfg.TotalSteps + 1} {
		if _, err := New(cfg, step); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("New(resume %d) = %v, want ErrInvalidConfig", step, err)
		}
	}
}

func TestJobDoneAfterLastStep(t *testing.T) {
	cfg := testConfig()
	cfg.TotalSteps = 2
	m := mustNew(t, cfg, 0)
	outs := runSteps(t, m)
	if _, ok := outs[len(outs)-1].(JobDone); !ok {
		t.Fatalf("last output %#v, want JobDone", outs[len(outs)-1])
	}
	if m.Phase() != PhaseDone || m.Step() != 2 {
		t.Fatalf("phase %v step %d, want done at 2", m.Phase(), m.Step())
	}
	r, err := m.RequestWork("b", at(time.Minute))
	if err != nil || r != (Done{}) {
		t.Fatalf("RequestWork after the job = %#v, %v, want Done", r, err)
	}
	for _, step := range []int{1, 2} {
		v := m.Result(validResult(cfg, "a", step, 0), at(time.Minute))
		if v.Outcome != Invalid {
			t.Errorf("result for step %d after the job: %+v, want invalid", step, v)
		}
	}
	if err := m.Advance(3); !errors.Is(err, ErrJobDone) {
		t.Fatalf("Advance after the job = %v, want ErrJobDone", err)
	}
	if out := m.Ready(); len(out) != 0 {
		t.Fatalf("outputs after the job: %#v", out)
	}
	checkInvariants(t, m)
}
