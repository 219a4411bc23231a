package coordinator

import (
	"slices"
	"testing"
)

func TestPickFollowsPriorityThenShareThenAge(t *testing.T) {
	c := func(id string, prio int, weight float64, limit, assigned, applied int, seq uint64) candidate {
		return candidate{id: id, priority: prio, weight: weight, limit: limit, assigned: assigned, applied: applied, seq: seq}
	}
	for _, tt := range []struct {
		name string
		cs   []candidate
		want string // "" for none
	}{
		{"no job", nil, ""},
		{"the higher priority, though it has more workers", []candidate{c("a", 0, 1, 8, 0, 0, 1), c("b", 5, 1, 8, 3, 900, 2)}, "b"},
		{"a full job of higher priority leaves the worker to the next", []candidate{c("a", 0, 1, 8, 0, 0, 1), c("b", 5, 1, 4, 4, 0, 2)}, "a"},
		{"fewest workers per weight", []candidate{c("a", 0, 1, 8, 2, 0, 1), c("b", 0, 1, 8, 1, 50, 2)}, "b"},
		{"weight 2 takes twice the workers", []candidate{c("a", 0, 2, 8, 3, 0, 1), c("b", 0, 1, 8, 1, 0, 2)}, "b"},
		{"weight 2 before its second worker", []candidate{c("a", 0, 2, 8, 1, 0, 1), c("b", 0, 1, 8, 1, 0, 2)}, "a"},
		{"a tie in workers goes to the fewest applied shards", []candidate{c("a", 0, 1, 8, 1, 300, 1), c("b", 0, 1, 8, 1, 200, 2)}, "b"},
		{"then to the earliest submitted", []candidate{c("b", 0, 1, 8, 1, 200, 2), c("a", 0, 1, 8, 1, 200, 1)}, "a"},
		{"every job full", []candidate{c("a", 0, 1, 2, 2, 0, 1), c("b", 1, 1, 1, 1, 0, 2)}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := pick(tt.cs)
			if got != tt.want || ok != (tt.want != "") {
				t.Errorf("pick = %q, %v; want %q", got, ok, tt.want)
			}
		})
	}
}

// TestPickRotatesTheOddWorker: 4 workers on 3 equal jobs, each asking
// again after a quantum in turn, give every job a third of the worker
// quanta over time.
func TestPickRotatesTheOddWorker(t *testing.T) {
	jobs := []string{"a", "b", "c"}
	on := map[string]string{}  // worker → job
	quanta := map[string]int{} // job → quanta served (its applied shards)
	for round := 0; round < 300; round++ {
		w := string(rune('0' + round%4))
		delete(on, w)
		var cs []candidate
		for i, j := range jobs {
			n := 0
			for _, x := range on {
				if x == j {
					n++
				}
			}
			cs = append(cs, candidate{id: j, weight: 1, limit: 8, assigned: n, applied: quanta[j], seq: uint64(i)})
		}
		j, ok := pick(cs)
		if !ok {
			t.Fatal("no job picked")
		}
		on[w] = j
		quanta[j]++
	}
	for _, j := range jobs {
		if quanta[j] < 99 || quanta[j] > 101 {
			t.Errorf("job %s served %d of 300 quanta, want 100 ± 1 (%v)", j, quanta[j], quanta)
		}
	}
}

func TestAdmitIsPriorityThenFirstInFirstOut(t *testing.T) {
	q := []*QueuedJob{{ID: "old", Seq: 1}, {ID: "urgent", Seq: 5, Priority: 3}, {ID: "mid", Seq: 3}, {ID: "new", Seq: 4}}
	for _, tt := range []struct {
		running, max int
		want         []string
	}{
		{0, 4, []string{"urgent", "old", "mid", "new"}},
		{2, 4, []string{"urgent", "old"}},
		{4, 4, nil},
		{5, 4, nil},
	} {
		var got []string
		for _, j := range admit(q, tt.running, tt.max) {
			got = append(got, j.ID)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("admit with %d of %d running = %v, want %v", tt.running, tt.max, got, tt.want)
		}
	}
}

func TestDecodeQueuedJobNamesTheFault(t *testing.T) {
	for _, tt := range []struct {
		name, id, body string
		ok             bool
	}{
		{"good", "a", `{"id":"a","state":"queued","seq":1}`, true},
		{"not JSON", "a", `{"id":`, false},
		{"another job's entry", "a", `{"id":"b","state":"queued"}`, false},
		{"unknown state", "a", `{"id":"a","state":"sleeping"}`, false},
	} {
		q, err := decodeQueuedJob(tt.id, []byte(tt.body))
		if (err == nil) != tt.ok {
			t.Errorf("%s: err %v", tt.name, err)
		}
		if tt.ok && (q.Weight != 1 || q.Spec.Steps == 0) {
			t.Errorf("%s: defaults not filled: weight %v, steps %d", tt.name, q.Weight, q.Spec.Steps)
		}
	}
}

// FuzzDecodeQueuedJob: whatever bytes the store holds, decoding never
// panics, and a decoded entry names its job and a known state.
func FuzzDecodeQueuedJob(f *testing.F) {
	f.Add([]byte(`{"id":"a","state":"running","seq":3,"priority":2,"weight":0.5,"spec":{"loss":"proto","steps":60}}`))
	f.Add([]byte(`{"id":"a","state":"done","outcome":{"version":60,"metrics":{"5way1shot_acc":0.9}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := decodeQueuedJob("a", b)
		if err != nil {
			return
		}
		if q.ID != "a" || q.Weight <= 0 {
			t.Fatalf("decoded %+v", q)
		}
		switch q.State {
		case StateQueued, StateRunning, StatePaused, StateDone, StateCancelled, StateFailed:
		default:
			t.Fatalf("state %q", q.State)
		}
	})
}
