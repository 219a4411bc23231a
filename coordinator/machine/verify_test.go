package machine

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/fsl-project/fsl/params"
)

// wrongResult is a finite, well-formed, wrong result: the cheater's.
func wrongResult(cfg Config, worker string, step, shard int) params.Result {
	r := validResult(cfg, worker, step, shard)
	r.Grads = slices.Clone(r.Grads)
	for i := range r.Grads {
		r.Grads[i] *= 1.01
	}
	r.Grads[0] += 1
	return r
}

// verifyConfig verifies every shard when fraction is 1.
func verifyConfig(fraction float64) Config {
	cfg := testConfig()
	cfg.ShardsPerStep = 1
	cfg.CheckpointEvery = 1
	cfg.Verify = fraction
	return cfg
}

// TestVerifiedShard drives one verified shard through the copies of a
// sequence of workers and checks each verdict, who ends up banned, and
// whether the shard is settled with the correct bits.
func TestVerifiedShard(t *testing.T) {
	type copyOf struct {
		worker string
		wrong  bool
		want   Outcome
	}
	tests := []struct {
		name     string
		copies   []copyOf
		banned   []string
		settled  bool
		mismatch int
	}{
		{"two agree", []copyOf{{"a", false, Held}, {"b", false, Accepted}}, nil, true, 0},
		{"wrong first, two honest settle", []copyOf{{"bad", true, Held}, {"a", false, Held}, {"b", false, Accepted}}, []string{"bad"}, true, 1},
		{"wrong second", []copyOf{{"a", false, Held}, {"bad", true, Held}, {"b", false, Accepted}}, []string{"bad"}, true, 1},
		{"wrong after settling", []copyOf{{"a", false, Held}, {"b", false, Accepted}, {"bad", true, Invalid}}, []string{"bad"}, true, 1},
		{"right after settling", []copyOf{{"a", false, Held}, {"b", false, Accepted}, {"c", false, Duplicate}}, nil, true, 0},
		{"same worker twice", []copyOf{{"a", false, Held}, {"a", false, Duplicate}}, nil, false, 0},
		{"two disagree, no third yet", []copyOf{{"a", false, Held}, {"bad", true, Held}}, nil, false, 1},
		// Two wrong copies that agree win: verification assumes honest
		// workers are the majority of those that compute a shard.
		{"two colluding cheaters", []copyOf{{"bad1", true, Held}, {"a", false, Held}, {"bad2", true, Accepted}}, []string{"a"}, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := verifyConfig(1)
			m := mustNew(t, cfg, 0)
			now := at(time.Second)
			for i, c := range tt.copies {
				r := validResult(cfg, c.worker, 0, 0)
				if c.wrong {
					r = wrongResult(cfg, c.worker, 0, 0)
				}
				if v := m.Result(r, now); v.Outcome != c.want {
					t.Fatalf("copy %d from %q (wrong %v): %+v, want %v", i, c.worker, c.wrong, v, c.want)
				}
				checkInvariants(t, m)
			}
			_, banned := m.Trust()
			if !slices.Equal(banned, tt.banned) {
				t.Errorf("banned %v, want %v", banned, tt.banned)
			}
			if got := m.Counters().Mismatches; got != tt.mismatch {
				t.Errorf("%d mismatches, want %d", got, tt.mismatch)
			}
			var complete *StepComplete
			for _, o := range m.Ready() {
				if sc, ok := o.(StepComplete); ok {
					complete = &sc
				}
			}
			if (complete != nil) != tt.settled {
				t.Fatalf("step complete: %v, want %v", complete != nil, tt.settled)
			}
			if complete != nil && tt.name != "two colluding cheaters" && complete.Results[0].Grads[0] != gradValue(0, 0) {
				t.Errorf("settled with gradient %v, want %v", complete.Results[0].Grads[0], gradValue(0, 0))
			}
		})
	}
}

// TestVerifiedShardLeasesTwoWorkersAtOnce: a verified shard is leased to two
// different workers without waiting for the first copy, never twice to one.
func TestVerifiedShardLeasesTwoWorkersAtOnce(t *testing.T) {
	cfg := verifyConfig(1)
	m := mustNew(t, cfg, 0)
	now := at(time.Second)
	l1 := mustLease(t, m, "a", now)
	mustWait(t, m, "a", now) // a holds it; no second copy for a
	l2 := mustLease(t, m, "b", now)
	if l1.Shard != 0 || l2.Shard != 0 || l2.Backup {
		t.Fatalf("leases %+v and %+v, want shard 0 to both, not as a backup", l1, l2)
	}
	mustWait(t, m, "c", now) // two copies out: enough
	checkInvariants(t, m)
	// a's copy disagrees with b's: c gets the third lease.
	if v := m.Result(wrongResult(cfg, "a", 0, 0), now); v.Outcome != Held {
		t.Fatalf("a's copy: %+v", v)
	}
	if v := m.Result(validResult(cfg, "b", 0, 0), now); v.Outcome != Held || !v.Mismatch {
		t.Fatalf("b's copy: %+v, want held with a mismatch", v)
	}
	if l := mustLease(t, m, "c", now); l.Shard != 0 {
		t.Fatalf("c leased %+v", l)
	}
	mustWait(t, m, "b", now)
	checkInvariants(t, m)
	if v := m.Result(validResult(cfg, "c", 0, 0), now); v.Outcome != Accepted {
		t.Fatalf("c's copy: %+v", v)
	}
	if !m.Banned("a") || m.Banned("b") || m.Banned("c") {
		t.Fatalf("banned a %v b %v c %v, want a only", m.Banned("a"), m.Banned("b"), m.Banned("c"))
	}
	checkInvariants(t, m)
}

// TestBannedWorkerIsShutOut: a banned worker's requests, joins and results
// are refused, and it is not registered again.
func TestBannedWorkerIsShutOut(t *testing.T) {
	cfg := verifyConfig(1)
	m := mustNew(t, cfg, 0)
	now := at(time.Second)
	m.Result(wrongResult(cfg, "bad", 0, 0), now)
	m.Result(validResult(cfg, "a", 0, 0), now)
	m.Result(validResult(cfg, "b", 0, 0), now)
	if !m.Banned("bad") {
		t.Fatal("bad not banned")
	}
	if r, err := m.RequestWork("bad", now); err != nil || r != (BannedReply{}) {
		t.Errorf("RequestWork = %#v, %v; want BannedReply", r, err)
	}
	if err := m.Join("bad", now); !errors.Is(err, ErrBanned) {
		t.Errorf("Join = %v, want ErrBanned", err)
	}
	if err := m.Heartbeat("bad", now); err != nil {
		t.Errorf("Heartbeat = %v", err)
	}
	if v := m.Result(validResult(cfg, "bad", 0, 0), now); v.Outcome != Invalid || v.Reason != ReasonBanned {
		t.Errorf("Result = %+v, want invalid: banned worker", v)
	}
	for _, w := range m.Status().Workers {
		if w.ID == "bad" {
			t.Errorf("banned worker registered again: %+v", w)
		}
	}
	checkInvariants(t, m)
}

// TestBanRollsBackToTheFirstUncheckedResult: with some shards unverified,
// a worker whose results were taken unchecked from step 1 and who is caught
// at step 3 asks for a rollback to step 1; Rewind then restarts step 1 in a
// new lineage, and results of the old lineage are refused.
func TestBanRollsBackToTheFirstUncheckedResult(t *testing.T) {
	cfg := testConfig()
	cfg.ShardsPerStep = 2
	cfg.TotalSteps = 6
	cfg.Verify = 0.5
	// Find a key that verifies shard 1 only at step 3, and shard 0 never
	// before it, so the run below is fixed.
	for key := uint64(0); ; key++ {
		if key == 100000 {
			t.Fatal("no key found")
		}
		cfg.VerifyKey = key
		m := &Machine{cfg: cfg}
		ok := !m.verified(3, 0) && m.verified(3, 1)
		for s := 0; s < 3 && ok; s++ {
			ok = !m.verified(s, 0) && !m.verified(s, 1)
		}
		if ok {
			break
		}
	}
	m := mustNew(t, cfg, 0)
	now := at(time.Second)
	for step := 0; step < 3; step++ {
		who := "a"
		if step >= 1 {
			who = "bad" // its unchecked results from step 1 on
		}
		for shard := range 2 {
			mustAccept(t, m, validResult(cfg, who, step, shard), now)
		}
		m.Ready()
		if err := m.Advance(step + 1); err != nil {
			t.Fatal(err)
		}
	}
	if trusted, _ := m.Trust(); trusted["bad"] != 1 || trusted["a"] != 0 {
		t.Fatalf("trusted %v, want bad from step 1 and a from step 0", trusted)
	}
	mustAccept(t, m, validResult(cfg, "a", 3, 0), now) // shard 0 unverified
	m.Result(validResult(cfg, "a", 3, 1), now)
	if v := m.Result(wrongResult(cfg, "bad", 3, 1), now); v.Outcome != Held || !v.Mismatch {
		t.Fatalf("bad's copy: %+v", v)
	}
	if v := m.Result(validResult(cfg, "c", 3, 1), now); v.Outcome != Accepted {
		t.Fatalf("c's copy: %+v", v)
	}
	var rb *Rollback
	for _, o := range m.Ready() {
		if r, ok := o.(Rollback); ok {
			rb = &r
		}
	}
	if rb == nil || rb.Step != 1 || rb.Worker != "bad" {
		t.Fatalf("rollback %+v, want to step 1 for bad", rb)
	}
	if err := m.Rewind(4); err == nil {
		t.Error("Rewind past the current step accepted")
	}
	if err := m.Rewind(1); err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, m)
	if m.Step() != 1 || m.Lineage() != 1 || m.HasReady() {
		t.Fatalf("after Rewind(1): step %d lineage %d ready %v", m.Step(), m.Lineage(), m.HasReady())
	}
	old := validResult(cfg, "a", 1, 0) // lineage 0
	if v := m.Result(old, now); v.Outcome != Invalid || v.Reason != ReasonWrongVersion {
		t.Errorf("a result of the discarded lineage: %+v, want invalid: wrong version", v)
	}
	l := mustLease(t, m, "a", now)
	if l.Step != 1 || l.Lineage != 1 {
		t.Errorf("lease after rewind %+v, want step 1 lineage 1", l)
	}
	if trusted, _ := m.Trust(); trusted["bad"] != 0 || len(trusted) != 1 || trusted["a"] != 0 {
		t.Errorf("trusted after rewind %v, want only a from step 0", trusted)
	}
	c := m.Counters()
	if c.Rollbacks != 1 || c.StepsRolledBack != 2 || c.Discarded != 2 || c.Bans != 1 || c.Checks != 1 {
		t.Errorf("counters %+v", c)
	}
}

// TestRestoreTrustSurvivesARestart: a restarted machine keeps bans and the
// trusted steps before its resume step, so a later ban still rolls back
// far enough.
func TestRestoreTrustSurvivesARestart(t *testing.T) {
	cfg := verifyConfig(1)
	cfg.TotalSteps = 10
	m := mustNew(t, cfg, 5)
	m.RestoreTrust(map[string]int{"x": 2, "y": 5, "z": 7}, []string{"gone"})
	trusted, banned := m.Trust()
	if len(trusted) != 1 || trusted["x"] != 2 || !slices.Equal(banned, []string{"gone"}) {
		t.Fatalf("trusted %v banned %v, want x from 2 and gone", trusted, banned)
	}
	now := at(time.Second)
	m.Result(wrongResult(cfg, "x", 5, 0), now)
	m.Result(validResult(cfg, "a", 5, 0), now)
	m.Result(validResult(cfg, "b", 5, 0), now)
	var rb *Rollback
	for _, o := range m.Ready() {
		if r, ok := o.(Rollback); ok {
			rb = &r
		}
	}
	if rb == nil || rb.Step != 2 {
		t.Fatalf("rollback %+v, want to step 2", rb)
	}
}

// TestLostCopiesAreNotInvalid: the copy of a backup that lost the race, or
// of an expired lease another worker recomputed, arriving after its step
// advanced, is Lost; a malformed one is still Invalid, and a stale result
// from a worker that lost no race stays Invalid.
func TestLostCopiesAreNotInvalid(t *testing.T) {
	cfg := testConfig()
	cfg.ShardsPerStep = 2
	cfg.BackupWhenRemaining = 2
	cfg.TotalSteps = lostWindow + 4
	m := mustNew(t, cfg, 0)
	now := at(time.Second)
	mustLease(t, m, "a", now)                                      // shard 0
	mustLease(t, m, "b", now)                                      // shard 1
	if l := mustLease(t, m, "c", now); !l.Backup || l.Shard != 0 { // backup of the slowest
		t.Fatalf("c got %+v, want a backup of shard 0", l)
	}
	mustAccept(t, m, validResult(cfg, "c", 0, 0), now) // the backup wins
	mustAccept(t, m, validResult(cfg, "b", 0, 1), now)
	m.Ready()
	if err := m.Advance(1); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		r      params.Result
		want   Outcome
		reason Reason
	}{
		{"the loser's copy", validResult(cfg, "a", 0, 0), Lost, ReasonNone},
		{"the loser's malformed copy", func() params.Result {
			r := validResult(cfg, "a", 0, 0)
			r.Count = 0
			return r
		}(), Invalid, ReasonStaleStep},
		{"a copy from a worker that lost no race", validResult(cfg, "d", 0, 0), Invalid, ReasonStaleStep},
		{"the winner again", validResult(cfg, "c", 0, 0), Invalid, ReasonStaleStep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := m.Result(tt.r, now)
			if v.Outcome != tt.want || v.Reason != tt.reason {
				t.Fatalf("%+v, want %v (%v)", v, tt.want, tt.reason)
			}
		})
	}
	if c := m.Counters(); c.LostRaces != 1 {
		t.Errorf("%d lost races, want 1", c.LostRaces)
	}
	// Still lost steps later, within the window; stale beyond it.
	for step := 1; step <= lostWindow; step++ {
		completeStep(t, m, "b", now)
		if err := m.Advance(step + 1); err != nil {
			t.Fatal(err)
		}
		want := Lost
		if step == lostWindow {
			want = Invalid
		}
		if v := m.Result(validResult(cfg, "a", 0, 0), now); v.Outcome != want {
			t.Fatalf("the loser's copy at step %d: %+v, want %v", step+1, v, want)
		}
	}
}

// TestFreshShardsComeBeforeSecondCopies: with every shard verified, the
// first workers each get a shard nobody computes yet; second copies go out
// only after that, lowest shard first.
func TestFreshShardsComeBeforeSecondCopies(t *testing.T) {
	cfg := verifyConfig(1)
	cfg.ShardsPerStep = 3
	m := mustNew(t, cfg, 0)
	now := at(time.Second)
	for i, want := range []int{0, 1, 2, 0, 1, 2} {
		w := string(rune('a' + i))
		if l := mustLease(t, m, w, now); l.Shard != want {
			t.Fatalf("worker %s got shard %d, want %d", w, l.Shard, want)
		}
		checkInvariants(t, m)
	}
	mustWait(t, m, "g", now)
}

// TestLateCopyOfAVerifiedShardIsStillJudged: a copy that lost the race on a
// verified shard and arrives after its step is over is Lost when its bits
// are the settled ones, and bans its sender when they differ.
func TestLateCopyOfAVerifiedShardIsStillJudged(t *testing.T) {
	for _, wrong := range []bool{false, true} {
		cfg := verifyConfig(1)
		cfg.TotalSteps = 4
		cfg.BackupWhenRemaining = 1 // slow's lease is a backup copy
		m := mustNew(t, cfg, 0)
		now := at(time.Second)
		for _, w := range []string{"a", "b", "slow"} {
			mustLease(t, m, w, now)
		}
		m.Result(validResult(cfg, "a", 0, 0), now)
		mustAccept(t, m, validResult(cfg, "b", 0, 0), now)
		m.Ready()
		if err := m.Advance(1); err != nil {
			t.Fatal(err)
		}
		r := validResult(cfg, "slow", 0, 0)
		if wrong {
			r = wrongResult(cfg, "slow", 0, 0)
		}
		v := m.Result(r, now)
		switch {
		case !wrong && v.Outcome != Lost:
			t.Errorf("a right late copy: %+v, want lost", v)
		case wrong && (v.Outcome != Invalid || v.Reason != ReasonMismatch || !m.Banned("slow")):
			t.Errorf("a wrong late copy: %+v (banned %v), want invalid: mismatch, and a ban", v, m.Banned("slow"))
		}
		checkInvariants(t, m)
	}
}
