package machine

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/fsl-project/fsl/params"
)

// t0 is the start of every test's explicit timeline.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// testConfig is a small job: 3 shards, 4 steps, 10 s leases, 30 s
// heartbeat timeout, no backups (but the default backup limits, for tests
// that turn them on).
func testConfig() Config {
	return Config{
		Job:                "job-1",
		ShardsPerStep:      3,
		TotalSteps:         4,
		LeaseTimeout:       10 * time.Second,
		HeartbeatTimeout:   30 * time.Second,
		RetryAfter:         time.Second,
		MaxBackupsPerShard: DefaultMaxBackupsPerShard,
		BackupSlowFactor:   DefaultBackupSlowFactor,
		GradLen:            4,
		StateLen:           2,
		LayoutHash:         0xfeed,
	}
}

// mustNew builds a machine and drains its starting outputs.
func mustNew(t testing.TB, cfg Config, resume int) *Machine {
	t.Helper()
	m, err := New(cfg, resume)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	m.Ready()
	return m
}

// gradValue is the value every gradient entry of a correct result for
// (step, shard) holds, so a handed-over result shows where it came from.
func gradValue(step, shard int) float32 { return float32(step*1000 + shard) }

// validResult is a correct result for (step, shard) from worker under cfg.
func validResult(cfg Config, worker string, step, shard int) params.Result {
	g := make(params.Vector, cfg.GradLen)
	for i := range g {
		g[i] = gradValue(step, shard)
	}
	s := make(params.Vector, cfg.StateLen)
	for i := range s {
		s[i] = float32(i)
	}
	return params.Result{
		Worker: worker, Step: step, Shard: shard, Version: LagVersion(step, cfg.Pipeline),
		LayoutHash: cfg.LayoutHash, Grads: g, Stats: s, Loss: 0.5, Count: 8,
	}
}

// mustLease asks for work and fails unless it gets a lease.
func mustLease(t testing.TB, m *Machine, worker string, now time.Time) Lease {
	t.Helper()
	r, err := m.RequestWork(worker, now)
	if err != nil {
		t.Fatalf("RequestWork(%q): %v", worker, err)
	}
	l, ok := r.(Lease)
	if !ok {
		t.Fatalf("RequestWork(%q) at %v = %#v, want a Lease", worker, now.Sub(t0), r)
	}
	return l
}

// mustWait asks for work and fails unless told to wait.
func mustWait(t testing.TB, m *Machine, worker string, now time.Time) {
	t.Helper()
	r, err := m.RequestWork(worker, now)
	if err != nil {
		t.Fatalf("RequestWork(%q): %v", worker, err)
	}
	if _, ok := r.(Wait); !ok {
		t.Fatalf("RequestWork(%q) at %v = %#v, want Wait", worker, now.Sub(t0), r)
	}
}

// mustAccept feeds r and fails unless it is accepted.
func mustAccept(t testing.TB, m *Machine, r params.Result, now time.Time) Verdict {
	t.Helper()
	v := m.Result(r, now)
	if v.Outcome != Accepted {
		t.Fatalf("Result(step %d shard %d from %q) = %+v (%v), want accepted", r.Step, r.Shard, r.Worker, v, v.Err())
	}
	return v
}

// completeStep leases and returns every shard of the current step through
// one worker and returns the StepComplete it produced.
func completeStep(t testing.TB, m *Machine, worker string, now time.Time) StepComplete {
	t.Helper()
	for range m.Config().ShardsPerStep {
		l := mustLease(t, m, worker, now)
		mustAccept(t, m, validResult(m.Config(), worker, l.Step, l.Shard), now)
	}
	out := m.Ready()
	if len(out) != 1 {
		t.Fatalf("Ready after the last shard = %#v, want one StepComplete", out)
	}
	sc, ok := out[0].(StepComplete)
	if !ok {
		t.Fatalf("Ready after the last shard = %#v, want a StepComplete", out)
	}
	return sc
}

// checkInvariants fails the test when the machine's state is inconsistent.
func checkInvariants(t testing.TB, m *Machine) {
	t.Helper()
	if err := m.invariants(); err != nil {
		t.Fatal(err)
	}
}

// invariants reports the first inconsistency in m's state, or nil.
func (m *Machine) invariants() error {
	cfg := m.cfg
	suspects := 0
	for _, w := range m.workers {
		if w.suspect() {
			suspects++
		}
	}
	if suspects != m.suspects {
		return fmt.Errorf("%d suspect workers counted, %d known", m.suspects, suspects)
	}
	S := cfg.ShardsPerStep
	if open := max(1, min(cfg.Pipeline+1, cfg.TotalSteps-m.step)); len(m.shards) != open*S {
		return fmt.Errorf("%d slots, want %d steps of %d shards", len(m.shards), open, S)
	}
	if m.step < 0 || m.step > cfg.TotalSteps {
		return fmt.Errorf("step %d outside [0, %d]", m.step, cfg.TotalSteps)
	}
	if (m.phase == PhaseDone) != (m.step == cfg.TotalSteps || m.stopped) {
		return fmt.Errorf("phase %v at step %d of %d", m.phase, m.step, cfg.TotalSteps)
	}
	done, live := 0, 0
	doneIn := make([]int, cfg.Pipeline+1)
	for i := range m.shards {
		sh := &m.shards[i]
		step, shard := m.step+i/S, i%S
		switch sh.state {
		case ShardPending:
			if !sh.short() {
				return fmt.Errorf("pending shard %d has %d leases and %d copies, all it wants", i, len(sh.leases), len(sh.votes))
			}
		case ShardLeased:
			if len(sh.leases) == 0 || sh.short() {
				return fmt.Errorf("leased shard %d has %d leases and %d copies of %d wanted", i, len(sh.leases), len(sh.votes), sh.copiesWanted())
			}
		case ShardDone:
			doneIn[i/S]++
			if i < S {
				done++
			}
			if len(sh.leases) != 0 || len(sh.votes) != 0 {
				return fmt.Errorf("done shard %d has %d leases and %d kept copies", i, len(sh.leases), len(sh.votes))
			}
			if sh.settled != sh.verify {
				return fmt.Errorf("done shard %d: verified %v, settled %v", i, sh.verify, sh.settled)
			}
			if sh.result.Shard != shard || sh.result.Step != step || sh.result.Version != LagVersion(step, cfg.Pipeline) {
				return fmt.Errorf("done shard %d of step %d holds result for step %d shard %d version %d",
					shard, step, sh.result.Step, sh.result.Shard, sh.result.Version)
			}
		default:
			return fmt.Errorf("shard %d in state %v", i, sh.state)
		}
		if (m.phase == PhaseDone || (m.phase == PhaseComplete && i < S)) && len(sh.leases) != 0 {
			return fmt.Errorf("shard %d has leases in phase %v", i, m.phase)
		}
		if !sh.verify && len(sh.votes) != 0 {
			return fmt.Errorf("shard %d is not verified but keeps %d copies", i, len(sh.votes))
		}
		for j, v := range sh.votes {
			if m.banned[v.worker] || sh.leaseOf(v.worker) >= 0 {
				return fmt.Errorf("shard %d keeps a copy of %q, banned %v or still leased", i, v.worker, m.banned[v.worker])
			}
			for _, u := range sh.votes[:j] {
				if u.worker == v.worker || sameBits(&u.result, &v.result) {
					return fmt.Errorf("shard %d keeps two copies of %q and %q that should have settled it", i, u.worker, v.worker)
				}
			}
		}
		// Past MaxBackupsPerShard only by the start's copies of shards
		// suspects hold (backupFor), one per worker at most.
		if sh.backups() > cfg.MaxBackupsPerShard && sh.backups() > len(m.workers) {
			return fmt.Errorf("shard %d has %d backups, max %d (and %d workers)", i, sh.backups(), cfg.MaxBackupsPerShard, len(m.workers))
		}
		seen := map[string]bool{}
		for _, l := range sh.leases {
			live++
			if l.holder == nil {
				return fmt.Errorf("shard %d has a lease of no worker", i)
			}
			id := l.holder.id
			if seen[id] {
				return fmt.Errorf("shard %d leased twice to %q", i, id)
			}
			seen[id] = true
			w := m.workers[id]
			if w == nil {
				return fmt.Errorf("shard %d leased to unknown worker %q", i, id)
			}
			if w != l.holder {
				return fmt.Errorf("shard %d's lease of %q holds another worker than the machine's (%p, want %p)", i, id, l.holder, w)
			}
			if !containsInt(w.shards, i) {
				return fmt.Errorf("shard %d leased to %q, which does not list it", i, id)
			}
			if !m.haveExpiry || l.deadline.Before(m.nextExpiry) {
				return fmt.Errorf("shard %d lease deadline %v before the next expiry %v (known %v)", i, l.deadline, m.nextExpiry, m.haveExpiry)
			}
			if l.attempt < 1 || l.attempt > sh.attempts {
				return fmt.Errorf("shard %d lease attempt %d of %d", i, l.attempt, sh.attempts)
			}
		}
	}
	if !slices.Equal(doneIn, m.doneIn) {
		return fmt.Errorf("shards done per open step %v, counted %v", doneIn, m.doneIn)
	}
	pending := 0
	for i := range m.shards {
		if m.shards[i].state != ShardPending {
			continue
		}
		pending++
		if i < m.pendingFrom {
			return fmt.Errorf("shard %d pending below the hint %d", i, m.pendingFrom)
		}
	}
	if pending != m.pending {
		return fmt.Errorf("%d shards pending, counted %d", pending, m.pending)
	}
	switch m.phase {
	case PhaseRunning:
		if done == S {
			return fmt.Errorf("running with all %d shards done", S)
		}
	case PhaseComplete:
		if done != S {
			return fmt.Errorf("complete with %d of %d shards done", done, S)
		}
	case PhaseDone:
		if done != 0 {
			return fmt.Errorf("done with %d shards of a step past the last", done)
		}
	}
	for id, w := range m.workers {
		if w.id != id {
			return fmt.Errorf("worker %q filed under %q", w.id, id)
		}
		for j, i := range w.shards {
			if i < 0 || i >= len(m.shards) || m.shards[i].leaseOf(id) < 0 {
				return fmt.Errorf("worker %q lists shard %d but holds no lease on it", id, i)
			}
			if containsInt(w.shards[:j], i) {
				return fmt.Errorf("worker %q lists shard %d twice", id, i)
			}
		}
	}
	c := m.Counters()
	if c.Leased != c.Fulfilled+c.Expired+c.Returned+live {
		return fmt.Errorf("leased %d != fulfilled %d + expired %d + returned %d + live %d",
			c.Leased, c.Fulfilled, c.Expired, c.Returned, live)
	}
	if c.Backups > c.Leased {
		return fmt.Errorf("%d backups of %d leases", c.Backups, c.Leased)
	}
	inWindow := 0
	for _, n := range doneIn {
		inWindow += n
	}
	if c.StepApplied != inWindow {
		return fmt.Errorf("step applied %d, done in the open steps %d", c.StepApplied, inWindow)
	}
	if c.Applied != c.StepsAdvanced*S+c.StepApplied+c.Discarded {
		return fmt.Errorf("applied %d != %d steps * %d + %d + discarded %d", c.Applied, c.StepsAdvanced, S, c.StepApplied, c.Discarded)
	}
	if c.Late > c.Applied+c.Held {
		return fmt.Errorf("late %d of %d applied and %d held", c.Late, c.Applied, c.Held)
	}
	if n := c.WorkersJoined - c.WorkersLeft - c.WorkersLost - m.c.expelled; n != len(m.workers) {
		return fmt.Errorf("joined %d - left %d - lost %d - banned %d != %d workers", c.WorkersJoined, c.WorkersLeft, c.WorkersLost, m.c.expelled, len(m.workers))
	}
	for id := range m.banned {
		if m.workers[id] != nil {
			return fmt.Errorf("banned worker %q is known", id)
		}
	}
	return nil
}

func containsInt(s []int, x int) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// isWait reports whether r tells the worker to wait.
func isWait(r Reply) bool {
	_, ok := r.(Wait)
	return ok
}
