package machine

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/fsl-project/fsl/params"
)

func TestInvalidResultIsDroppedAndCounted(t *testing.T) {
	cfg := testConfig()
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	tests := []struct {
		name   string
		mutate func(*params.Result)
		want   Reason
		detail string // must appear in Verdict.Detail
	}{
		{"stale step", func(r *params.Result) { r.Step, r.Version = -1, -1 }, ReasonStaleStep, "step -1"},
		{"future step", func(r *params.Result) { r.Step, r.Version = 1, 1 }, ReasonFutureStep, "step 1"},
		{"negative shard", func(r *params.Result) { r.Shard = -1 }, ReasonShardRange, "shard -1"},
		{"shard past the last", func(r *params.Result) { r.Shard = cfg.ShardsPerStep }, ReasonShardRange, "shard 3"},
		{"wrong version", func(r *params.Result) { r.Version = 7 }, ReasonWrongVersion, "version 7"},
		{"wrong layout", func(r *params.Result) { r.LayoutHash = 0xbad }, ReasonWrongLayout, "0xbad"},
		{"short gradient", func(r *params.Result) { r.Grads = r.Grads[:cfg.GradLen-1] }, ReasonGradLen, "3 gradient"},
		{"long gradient", func(r *params.Result) { r.Grads = append(r.Grads, 0) }, ReasonGradLen, "5 gradient"},
		{"no gradient", func(r *params.Result) { r.Grads = nil }, ReasonGradLen, "0 gradient"},
		{"wrong stats length", func(r *params.Result) { r.Stats = r.Stats[:1] }, ReasonStatsLen, "1 stats"},
		{"zero count", func(r *params.Result) { r.Count = 0 }, ReasonBadCount, "count 0"},
		{"negative count", func(r *params.Result) { r.Count = -5 }, ReasonBadCount, "count -5"},
		{"NaN gradient", func(r *params.Result) { r.Grads[2] = nan }, ReasonNotFinite, "gradient[2]"},
		{"infinite gradient", func(r *params.Result) { r.Grads[0] = -inf }, ReasonNotFinite, "gradient[0]"},
		{"NaN stats", func(r *params.Result) { r.Stats[1] = nan }, ReasonNotFinite, "stats[1]"},
		{"infinite stats", func(r *params.Result) { r.Stats[0] = inf }, ReasonNotFinite, "stats[0]"},
		{"NaN loss", func(r *params.Result) { r.Loss = math.NaN() }, ReasonNotFinite, "loss NaN"},
		{"infinite loss", func(r *params.Result) { r.Loss = math.Inf(-1) }, ReasonNotFinite, "loss -Inf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustNew(t, cfg, 0)
			l := mustLease(t, m, "a", at(0))
			r := validResult(cfg, "a", 0, l.Shard)
			tt.mutate(&r)
			v := m.Result(r, at(time.Second))
			if v.Outcome != Invalid || v.Reason != tt.want {
				t.Fatalf("verdict %+v, want invalid: %v", v, tt.want)
			}
			if !strings.Contains(v.Detail, tt.detail) {
				t.Errorf("detail %q does not mention %q", v.Detail, tt.detail)
			}
			if err := v.Err(); !errors.Is(err, ErrInvalidResult) || !strings.Contains(err.Error(), tt.want.String()) {
				t.Errorf("Err() = %v, want ErrInvalidResult naming %q", err, tt.want)
			}
			c := m.Counters()
			if c.Invalid[tt.want] != 1 || c.InvalidTotal != 1 || c.Applied != 0 {
				t.Fatalf("counters %+v, want one invalid (%v) and nothing applied", c, tt.want)
			}
			// Never applied: the shard is still leased and a valid result
			// for it is still accepted.
			if st := m.Status().Shards[0]; st.State != ShardLeased {
				t.Fatalf("shard after an invalid result is %v, want leased", st.State)
			}
			mustAccept(t, m, validResult(cfg, "a", 0, l.Shard), at(2*time.Second))
			checkInvariants(t, m)
		})
	}
}

func TestResultForOtherStepIsInvalid(t *testing.T) {
	cfg := testConfig()
	m := mustNew(t, cfg, 0)
	sc := completeStep(t, m, "a", at(0))
	// A slow copy of step 0 arriving while step 0 awaits Advance is a
	// duplicate; after Advance it is stale.
	if v := m.Result(validResult(cfg, "b", 0, 1), at(time.Second)); v.Outcome != Duplicate {
		t.Fatalf("step 0 result before Advance: %+v, want duplicate", v)
	}
	if err := m.Advance(sc.Version + 1); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		step int
		want Reason
	}{
		{0, ReasonStaleStep},
		{2, ReasonFutureStep},
		{1 << 40, ReasonFutureStep},
	}
	for _, tt := range tests {
		r := validResult(cfg, "b", tt.step, 0)
		if v := m.Result(r, at(2*time.Second)); v.Outcome != Invalid || v.Reason != tt.want {
			t.Errorf("result for step %d at step 1: %+v, want %v", tt.step, v, tt.want)
		}
	}
	c := m.Counters()
	if c.Invalid[ReasonStaleStep] != 1 || c.Invalid[ReasonFutureStep] != 2 || c.Duplicates != 1 {
		t.Fatalf("counters %+v, want 1 stale, 2 future, 1 duplicate", c)
	}
	checkInvariants(t, m)
}

func TestDuplicateResultIsDroppedAndCounted(t *testing.T) {
	cfg := testConfig()
	m := mustNew(t, cfg, 0)
	l := mustLease(t, m, "a", at(0))
	first := validResult(cfg, "a", 0, l.Shard)
	mustAccept(t, m, first, at(time.Second))
	second := validResult(cfg, "a", 0, l.Shard)
	second.Grads[0] = 42 // a different copy must not replace the first
	for i := range 3 {
		v := m.Result(second, at(time.Duration(2+i)*time.Second))
		if v.Outcome != Duplicate || !errors.Is(v.Err(), ErrDuplicate) {
			t.Fatalf("copy %d: verdict %+v (%v), want duplicate", i, v, v.Err())
		}
	}
	// An invalid copy is invalid, not a duplicate: validation comes first.
	bad := validResult(cfg, "a", 0, l.Shard)
	bad.Count = 0
	if v := m.Result(bad, at(5*time.Second)); v.Reason != ReasonBadCount {
		t.Fatalf("invalid copy: %+v, want bad count", v)
	}
	c := m.Counters()
	if c.Duplicates != 3 || c.Applied != 1 || c.InvalidTotal != 1 {
		t.Fatalf("counters %+v, want 3 duplicates, 1 applied, 1 invalid", c)
	}
	for range cfg.ShardsPerStep - 1 {
		l := mustLease(t, m, "b", at(6*time.Second))
		mustAccept(t, m, validResult(cfg, "b", 0, l.Shard), at(6*time.Second))
	}
	sc := m.Ready()[0].(StepComplete)
	if sc.Results[l.Shard].Grads[0] != gradValue(0, l.Shard) {
		t.Fatalf("handed over gradient %v for shard %d, want the first copy's %v", sc.Results[l.Shard].Grads[0], l.Shard, gradValue(0, l.Shard))
	}
	checkInvariants(t, m)
}

func TestLateResultAfterExpiryIsAccepted(t *testing.T) {
	cfg := testConfig()
	cfg.ShardsPerStep = 1
	m := mustNew(t, cfg, 0)
	mustLease(t, m, "slow", at(0))
	m.Tick(at(cfg.LeaseTimeout))
	if l := mustLease(t, m, "other", at(cfg.LeaseTimeout)); l.Attempt != 2 {
		t.Fatalf("re-dispatch %+v, want attempt 2", l)
	}
	// The expired lease's work arrives first: it is correct work, taken.
	v := mustAccept(t, m, validResult(cfg, "slow", 0, 0), at(cfg.LeaseTimeout+time.Second))
	if !v.Late {
		t.Fatal("result after its lease expired not marked late")
	}
	if v := m.Result(validResult(cfg, "other", 0, 0), at(cfg.LeaseTimeout+2*time.Second)); v.Outcome != Duplicate {
		t.Fatalf("re-dispatched copy: %+v, want duplicate", v)
	}
	c := m.Counters()
	if c.Late != 1 || c.Expired != 1 || c.Fulfilled != 1 || c.Applied != 1 {
		t.Fatalf("counters %+v, want 1 late, 1 expired, 1 fulfilled, 1 applied", c)
	}
	checkInvariants(t, m)
}

func TestResultFromUnknownWorkerRegistersIt(t *testing.T) {
	cfg := testConfig()
	m := mustNew(t, cfg, 0)
	v := mustAccept(t, m, validResult(cfg, "stranger", 0, 1), at(time.Second))
	if !v.Late {
		t.Fatal("result without a lease not marked late")
	}
	ws := m.Status().Workers
	if len(ws) != 1 || ws[0].ID != "stranger" || ws[0].LastSeen != at(time.Second) {
		t.Fatalf("workers %+v, want stranger seen at 1s", ws)
	}
	// An anonymous result registers nobody.
	mustAccept(t, m, validResult(cfg, "", 0, 2), at(time.Second))
	if n := len(m.Status().Workers); n != 1 {
		t.Fatalf("%d workers after an anonymous result, want 1", n)
	}
	checkInvariants(t, m)
}

func TestVerdictStrings(t *testing.T) {
	for r := ReasonNone; r < numReasons; r++ {
		if s := r.String(); s == "" || strings.HasPrefix(s, "Reason(") {
			t.Errorf("Reason %d has no name", int(r))
		}
	}
	if s := Reason(99).String(); s != "Reason(99)" {
		t.Errorf("Reason(99).String() = %q", s)
	}
	if (Verdict{Outcome: Accepted}).Err() != nil {
		t.Error("accepted verdict has an error")
	}
	if err := (Verdict{}).Err(); !errors.Is(err, ErrInvalidResult) {
		t.Errorf("zero verdict Err() = %v, want ErrInvalidResult", err)
	}
}
