package coordinator

import (
	"bytes"
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
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

// TestStatusJSONIsSnakeCaseWithNamedEnums: what /status and the status
// subject serve has no Go field names and no bare enum numbers, and reads
// back into the same JobStatus (the status command decodes it).
func TestStatusJSONIsSnakeCaseWithNamedEnums(t *testing.T) {
	cfg := testConfig()
	m := mustNew(t, cfg, 1)
	la := mustLease(t, m, "w1", at(0))
	mustLease(t, m, "w2", at(0))
	mustAccept(t, m, validResult(cfg, "w1", 1, la.Shard), at(time.Second))
	stale := validResult(cfg, "w2", 0, 0)
	if v := m.Result(stale, at(time.Second)); v.Reason != ReasonStaleStep {
		t.Fatalf("verdict %+v, want stale step", v)
	}
	js := JobStatus{Job: cfg.Job, Step: 1, Steps: cfg.TotalSteps, Loss: 0.5, Status: m.Status()}
	b, err := json.Marshal(statusView(js))
	if err != nil {
		t.Fatal(err)
	}
	var tree any
	if err := json.Unmarshal(b, &tree); err != nil {
		t.Fatal(err)
	}
	snake := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if !snake.MatchString(k) {
					t.Errorf("key %q at %s is not snake_case", k, path)
				}
				walk(path+"."+k, x)
			}
		case []any:
			for _, x := range v {
				walk(path+"[]", x)
			}
		}
	}
	walk("", tree)
	for _, want := range []string{`"phase":"running"`, `"state":"done"`, `"state":"leased"`, `"state":"pending"`,
		`"invalid":{"stale_step":1}`, `"invalid_total":1`, `"step_applied":1`, `"tally":{"leased":1,"expired":0,"accepted":1,"invalid":0}`,
		// The dashboard's counters table shows every counter the JSON has:
		// verification's among them.
		`"lost_races":0`, `"checks":0`, `"mismatches":0`, `"bans":0`, `"rollbacks":0`, `"steps_rolled_back":0`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("status JSON lacks %s:\n%s", want, b)
		}
	}
	var back JobStatus
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("status JSON does not read back: %v\n%s", err, b)
	}
	if !reflect.DeepEqual(back.Status, js.Status) {
		t.Errorf("status read back =\n%+v\nwant\n%+v", back.Status, js.Status)
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

// FuzzStatusJSON: a status from the network (the status subject, /status)
// never panics the decoder, and what decodes encodes to JSON that decodes
// and encodes to the very same bytes (a reason this build does not know is
// dropped the first time, not later).
func FuzzStatusJSON(f *testing.F) {
	cfg := testConfig()
	m := mustNew(f, cfg, 1)
	l := mustLease(f, m, "w1", at(0))
	mustAccept(f, m, validResult(cfg, "w1", 1, l.Shard), at(time.Second))
	m.Result(validResult(cfg, "w2", 0, 0), at(time.Second))
	b, err := json.Marshal(statusView(JobStatus{Job: "j", Step: 1, Steps: 4, Status: m.Status()}))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"machine":{"phase":"done","counters":{"invalid":{"stale_step":2,"martian":1},"leased":3}}}`))
	f.Add([]byte(`{"machine":{"phase":7,"shards":[{"state":"leased"}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var st JobStatus
		if json.Unmarshal(data, &st) != nil {
			return
		}
		again, err := json.Marshal(st)
		if err != nil {
			return // a NaN cannot come from JSON, but a value may still not encode
		}
		var back JobStatus
		if err := json.Unmarshal(again, &back); err != nil {
			t.Fatalf("re-encoded status does not decode: %v\n%s", err, again)
		}
		third, err := json.Marshal(back)
		if err != nil || !bytes.Equal(third, again) {
			t.Fatalf("status changed on a round trip (%v):\n%s\n%s", err, again, third)
		}
	})
}
