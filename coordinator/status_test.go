package coordinator

import (
	"bytes"
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fsl-project/fsl/coordinator/machine"
	"github.com/fsl-project/fsl/params"
)

// sampleStatus is a machine's status after one accepted and one stale
// result, through the machine's exported API, and its config.
func sampleStatus(t testing.TB) (machine.Config, machine.Status) {
	t.Helper()
	cfg := machine.Config{Job: "job-1", ShardsPerStep: 3, TotalSteps: 4, LeaseTimeout: 10 * time.Second,
		HeartbeatTimeout: 30 * time.Second, RetryAfter: time.Second, GradLen: 4, StateLen: 2, LayoutHash: 0xfeed}
	m, err := machine.New(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	m.Ready()
	result := func(worker string, step, shard int) params.Result {
		return params.Result{Worker: worker, Step: step, Shard: shard, Version: step, LayoutHash: cfg.LayoutHash,
			Grads: make(params.Vector, cfg.GradLen), Stats: make(params.Vector, cfg.StateLen), Loss: 0.5, Count: 8}
	}
	var leases []machine.Lease
	for _, w := range []string{"w1", "w2"} {
		r, err := m.RequestWork(w, at(0))
		l, ok := r.(machine.Lease)
		if err != nil || !ok {
			t.Fatalf("RequestWork(%q) = %#v, %v; want a lease", w, r, err)
		}
		leases = append(leases, l)
	}
	if v := m.Result(result("w1", 1, leases[0].Shard), at(time.Second)); v.Outcome != machine.Accepted {
		t.Fatalf("verdict %+v, want accepted", v)
	}
	if v := m.Result(result("w2", 0, 0), at(time.Second)); v.Reason != machine.ReasonStaleStep {
		t.Fatalf("verdict %+v, want stale step", v)
	}
	return cfg, m.Status()
}

// TestStatusJSONIsSnakeCaseWithNamedEnums: what /status and the status
// subject serve has no Go field names and no bare enum numbers, and reads
// back into the same JobStatus (the status command decodes it).
func TestStatusJSONIsSnakeCaseWithNamedEnums(t *testing.T) {
	cfg, st := sampleStatus(t)
	js := JobStatus{Job: cfg.Job, Step: 1, Steps: cfg.TotalSteps, Loss: 0.5, Status: st}
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

// FuzzStatusJSON: a status from the network (the status subject, /status)
// never panics the decoder, and what decodes encodes to JSON that decodes
// and encodes to the very same bytes (a reason this build does not know is
// dropped the first time, not later).
func FuzzStatusJSON(f *testing.F) {
	_, st := sampleStatus(f)
	b, err := json.Marshal(statusView(JobStatus{Job: "j", Step: 1, Steps: 4, Status: st}))
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
