package machine

import (
	"reflect"
	"testing"
	"time"
)

func TestStatusSnapshot(t *testing.T) {
	cfg := testConfig()
	m := mustNew(t, cfg, 1)
	la := mustLease(t, m, "zed", at(0))
	lb := mustLease(t, m, "amy", at(time.Second))
	mustAccept(t, m, validResult(cfg, "zed", 1, la.Shard), at(2*time.Second))

	st := m.Status()
	want := Status{
		Job: cfg.Job, Step: 1, Version: 1, TotalSteps: cfg.TotalSteps, Phase: PhaseRunning,
		Shards: []ShardStatus{
			{Shard: 0, State: ShardDone, Attempts: 1, Worker: "zed"},
			{Shard: 1, State: ShardLeased, Attempts: 1, Leases: []LeaseStatus{
				{Worker: "amy", Issued: at(time.Second), Deadline: lb.Deadline, Attempt: 1},
			}},
			{Shard: 2, State: ShardPending},
		},
		Workers: []WorkerStatus{
			{ID: "amy", Joined: at(time.Second), LastSeen: at(time.Second), Shards: []int{1}, Tally: WorkerTally{Leased: 1}},
			{ID: "zed", Joined: at(0), LastSeen: at(2 * time.Second), Shards: []int{}, Tally: WorkerTally{Leased: 1, Accepted: 1}},
		},
	}
	want.Counters = m.Counters()
	if !reflect.DeepEqual(st, want) {
		t.Fatalf("Status =\n%+v\nwant\n%+v", st, want)
	}
	if c := st.Counters; c.Leased != 2 || c.Applied != 1 || c.StepApplied != 1 || c.Fulfilled != 1 || c.WorkersJoined != 2 {
		t.Fatalf("counters %+v", c)
	}

	// The snapshot shares nothing with the machine.
	st.Shards[1].Leases[0].Worker = "mallory"
	st.Workers[0].Shards[0] = 99
	st.Counters.Invalid[ReasonStaleStep] = 7
	if again := m.Status(); !reflect.DeepEqual(again, want) {
		t.Fatalf("editing a snapshot changed the machine:\n%+v", again)
	}
}

func TestPhaseAndStateNames(t *testing.T) {
	names := map[string]string{
		PhaseRunning.String(): "running", PhaseComplete.String(): "complete", PhaseDone.String(): "done",
		ShardPending.String(): "pending", ShardLeased.String(): "leased", ShardDone.String(): "done",
		Accepted.String(): "accepted", Duplicate.String(): "duplicate", Invalid.String(): "invalid",
		Phase(9).String(): "Phase(9)", ShardState(9).String(): "ShardState(9)", Outcome(9).String(): "Outcome(9)",
	}
	for got, want := range names {
		if got != want {
			t.Errorf("name %q, want %q", got, want)
		}
	}
}

func TestEnumTextRejectsUnknownNames(t *testing.T) {
	var p Phase
	var s ShardState
	var c Counters
	for _, err := range []error{p.UnmarshalText([]byte("paused")), s.UnmarshalText([]byte("2")), c.UnmarshalJSON([]byte(`{"leased":"x"}`))} {
		if err == nil {
			t.Error("an unknown name was accepted")
		}
	}
}

func TestSnakeCase(t *testing.T) {
	for in, want := range map[string]string{
		"Leased": "leased", "StepApplied": "step_applied", "WorkersJoined": "workers_joined",
		"HTTPPort": "http_port", "LostBackups": "lost_backups", "Step2Done": "step2_done",
	} {
		if got := snakeCase(in); got != want {
			t.Errorf("snakeCase(%q) = %q, want %q", in, got, want)
		}
	}
}
