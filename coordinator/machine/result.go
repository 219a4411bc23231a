package machine

import (
	"fmt"
	"math"
	"time"

	"github.com/fsl-project/fsl/params"
)

// Outcome is what the machine did with a result.
type Outcome int

// Outcomes of Machine.Result.
const (
	// Accepted: the first valid result for its shard; it will be handed over
	// in the step's StepComplete.
	Accepted Outcome = iota + 1
	// Duplicate: valid, but its shard already had an accepted result.
	// Dropped.
	Duplicate
	// Invalid: failed validation (see Reason). Dropped, never applied.
	Invalid
	// Held: a valid copy of a verified shard, kept until another worker's
	// copy agrees with it (see verify.go).
	Held
	// Lost: a well-formed copy of a shard of one of the last 16 steps from
	// a worker whose lease on it lost the race (another copy was accepted
	// first, or the lease expired and another worker computed the shard):
	// the normal fate of backups and slow workers. Dropped.
	Lost
)

func (o Outcome) String() string {
	switch o {
	case Accepted:
		return "accepted"
	case Duplicate:
		return "duplicate"
	case Invalid:
		return "invalid"
	case Held:
		return "held"
	case Lost:
		return "lost"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Reason says which validation check an Invalid result failed. Checks run
// in the order of the constants and the first failure is reported.
type Reason int

// Reasons a result is Invalid.
const (
	ReasonNone         Reason = iota
	ReasonBanned              // the sender is banned for the job (see verify.go)
	ReasonStaleStep           // Step is before the current step
	ReasonFutureStep          // Step is after the current step (or the job is done)
	ReasonShardRange          // Shard is outside [0, ShardsPerStep)
	ReasonWrongVersion        // Version (or Lineage) is not the current step's
	ReasonWrongLayout         // LayoutHash is not Config.LayoutHash
	ReasonGradLen             // len(Grads) is not Config.GradLen
	ReasonStatsLen            // len(Stats) is not Config.StateLen
	ReasonBadCount            // Count is zero or negative
	ReasonNotFinite           // a NaN or infinity in Loss, Grads or Stats
	ReasonMismatch            // differs from the verified result of its shard
	numReasons
)

var reasonNames = [numReasons]string{
	ReasonNone:         "none",
	ReasonBanned:       "banned worker",
	ReasonStaleStep:    "stale step",
	ReasonFutureStep:   "future step",
	ReasonShardRange:   "shard out of range",
	ReasonWrongVersion: "wrong version",
	ReasonWrongLayout:  "wrong layout",
	ReasonGradLen:      "wrong gradient length",
	ReasonStatsLen:     "wrong stats length",
	ReasonBadCount:     "non-positive count",
	ReasonNotFinite:    "non-finite value",
	ReasonMismatch:     "differs from the verified result",
}

func (r Reason) String() string {
	if r >= 0 && r < numReasons {
		return reasonNames[r]
	}
	return fmt.Sprintf("Reason(%d)", int(r))
}

// Verdict is the machine's answer to one result.
type Verdict struct {
	Outcome Outcome
	// Reason is why an Invalid result was dropped; ReasonNone otherwise.
	Reason Reason
	// Late marks an Accepted or Held result whose sender held no live
	// lease on the shard (it expired, was returned, or never existed).
	Late bool
	// Mismatch marks a Held result that differs from another kept copy of
	// its verified shard: a worker computes wrong bits, and a further copy
	// from another worker will settle which.
	Mismatch bool
	// Detail names the offending value of an Invalid result, e.g.
	// "step 3, want 5".
	Detail string
}

// Err is nil for an Accepted result, and otherwise an error wrapping
// ErrDuplicate or ErrInvalidResult that says why, for logs and replies.
func (v Verdict) Err() error {
	switch v.Outcome {
	case Accepted:
		return nil
	case Duplicate, Lost:
		return ErrDuplicate
	case Held:
		return nil
	case Invalid:
		return fmt.Errorf("%w: %v: %s", ErrInvalidResult, v.Reason, v.Detail)
	}
	return fmt.Errorf("%w: no verdict", ErrInvalidResult)
}

// Result takes one worker's result at time now.
//
// The first valid result for each (step, shard) is accepted; later valid
// copies are Duplicates and invalid ones are counted by Reason; neither is
// ever applied. A valid result is accepted even when its lease expired or
// its worker was declared lost: the machine checks the work's shape, not
// who did it, and the first valid copy is as good as any later one, so
// throwing it away would only waste the work. The last accepted shard of a
// step queues a StepComplete.
//
// With Config.Verify, a verified shard's copies are Held until two from
// different workers agree (see verify.go); a copy that differs from the
// settled result of its shard is Invalid (ReasonMismatch) and bans its
// sender, and so does a kept copy the settled result differs from.
// A banned worker's results are Invalid (ReasonBanned). A copy of a shard
// of a recent step from a worker whose lease on it lost the race is Lost,
// not Invalid: backups and slow workers send those in healthy runs.
//
// A result from a worker the machine does not know registers that worker,
// as a Join would (minus taking back leases).
func (m *Machine) Result(r params.Result, now time.Time) Verdict {
	m.gen++
	if m.banned[r.Worker] {
		m.sweep(now)
		m.c.invalid[ReasonBanned]++
		return Verdict{Outcome: Invalid, Reason: ReasonBanned, Detail: fmt.Sprintf("worker %q", r.Worker)}
	}
	var from *worker
	if r.Worker != "" {
		from = m.touch(r.Worker, now)
	}
	m.sweep(now)
	if m.lost(&r) {
		if h, ok := m.prevVerified[stepShard{r.Step, r.Shard}]; ok && bitsHash(&r) != h {
			m.c.Mismatches++
			m.c.invalid[ReasonMismatch]++
			m.ban(r.Worker, r.Step, r.Shard)
			return Verdict{Outcome: Invalid, Reason: ReasonMismatch,
				Detail: fmt.Sprintf("step %d shard %d was verified by two other workers", r.Step, r.Shard)}
		}
		m.c.LostRaces++
		return Verdict{Outcome: Lost}
	}
	if reason, detail := m.check(&r); reason != ReasonNone {
		m.c.invalid[reason]++
		if from != nil {
			from.tally.Invalid++
		}
		return Verdict{Outcome: Invalid, Reason: reason, Detail: detail}
	}
	sh := &m.shards[m.slot(r.Step, r.Shard)]
	if sh.state == ShardDone {
		if sh.settled && !sameBits(&sh.result, &r) {
			m.c.Mismatches++
			m.c.invalid[ReasonMismatch]++
			m.ban(r.Worker, r.Step, r.Shard)
			return Verdict{Outcome: Invalid, Reason: ReasonMismatch,
				Detail: fmt.Sprintf("step %d shard %d was verified by two other workers", r.Step, r.Shard)}
		}
		m.c.Duplicates++
		return Verdict{Outcome: Duplicate}
	}
	if sh.verify {
		return m.vote(r, from)
	}
	li := sh.leaseOf(r.Worker)
	late := li < 0
	if late {
		m.c.Late++
	} else {
		m.observeLease(now.Sub(sh.leases[li].issued))
	}
	m.accept(m.slot(r.Step, r.Shard), r)
	m.trust(r.Worker)
	if from != nil {
		from.tally.Accepted++
		m.acquit(from)
	}
	if m.stepComplete() {
		m.complete()
	}
	return Verdict{Outcome: Accepted, Late: late}
}

// accept makes r slot i's result: every live lease on it is fulfilled (the
// other holders' copies lost the race) and the shard is done. The caller
// judges the workers and completes the step.
func (m *Machine) accept(i int, r params.Result) {
	sh := &m.shards[i]
	m.c.Fulfilled += len(sh.leases)
	for _, l := range sh.leases {
		l.holder.drop(i)
		if l.holder.id != r.Worker {
			sh.losers = append(sh.losers, l.holder.id)
		}
	}
	sh.leases = sh.leases[:0]
	if sh.state == ShardPending {
		m.unpend(i, ShardDone)
	}
	sh.state = ShardDone
	sh.result = r
	m.doneIn[i/m.cfg.ShardsPerStep]++
	m.c.Applied++
	m.c.StepApplied++
}

// check returns the first validation failure of r against the open steps
// (the current one, and with a pipeline those after it), or ReasonNone.
func (m *Machine) check(r *params.Result) (Reason, string) {
	S := m.cfg.ShardsPerStep
	switch last := m.step + len(m.shards)/S - 1; {
	case r.Step < m.step:
		return ReasonStaleStep, fmt.Sprintf("step %d, current step %d", r.Step, m.step)
	case r.Step > last || m.phase == PhaseDone:
		if last > m.step {
			return ReasonFutureStep, fmt.Sprintf("step %d, open steps %d to %d of %d", r.Step, m.step, last, m.cfg.TotalSteps)
		}
		return ReasonFutureStep, fmt.Sprintf("step %d, current step %d of %d", r.Step, m.step, m.cfg.TotalSteps)
	case r.Shard < 0 || r.Shard >= S:
		return ReasonShardRange, fmt.Sprintf("shard %d, want 0 to %d", r.Shard, S-1)
	case r.Version != LagVersion(r.Step, m.cfg.Pipeline):
		return ReasonWrongVersion, fmt.Sprintf("version %d, want %d", r.Version, LagVersion(r.Step, m.cfg.Pipeline))
	case r.Lineage != m.lineage:
		return ReasonWrongVersion, fmt.Sprintf("lineage %d, want %d (a rollback discarded those parameters)", r.Lineage, m.lineage)
	}
	return m.checkShape(r)
}

// lost reports whether r is a well-formed copy of a shard of one of the
// last lostWindow steps from a worker whose lease on it lost the race.
func (m *Machine) lost(r *params.Result) bool {
	if r.Step >= m.step || r.Version != LagVersion(r.Step, m.cfg.Pipeline) || r.Lineage != m.lineage || !m.prevLosers[loser{r.Step, r.Shard, r.Worker}] {
		return false
	}
	reason, _ := m.checkShape(r)
	return reason == ReasonNone
}

// checkShape returns the first failure of r's layout, lengths, count and
// values, or ReasonNone.
func (m *Machine) checkShape(r *params.Result) (Reason, string) {
	switch {
	case r.LayoutHash != m.cfg.LayoutHash:
		return ReasonWrongLayout, fmt.Sprintf("layout hash %#x, want %#x", r.LayoutHash, m.cfg.LayoutHash)
	case len(r.Grads) != m.gradLen(r.Shard):
		return ReasonGradLen, fmt.Sprintf("%d gradient values, want %d", len(r.Grads), m.gradLen(r.Shard))
	case len(r.Stats) != m.cfg.StateLen:
		return ReasonStatsLen, fmt.Sprintf("%d stats values, want %d", len(r.Stats), m.cfg.StateLen)
	case r.Count <= 0:
		return ReasonBadCount, fmt.Sprintf("count %d, want at least 1", r.Count)
	case math.IsNaN(r.Loss) || math.IsInf(r.Loss, 0):
		return ReasonNotFinite, fmt.Sprintf("loss %v", r.Loss)
	}
	if i := r.Grads.FirstNonFinite(); i >= 0 {
		return ReasonNotFinite, fmt.Sprintf("gradient[%d] is %v", i, r.Grads[i])
	}
	if i := r.Stats.FirstNonFinite(); i >= 0 {
		return ReasonNotFinite, fmt.Sprintf("stats[%d] is %v", i, r.Stats[i])
	}
	return ReasonNone, ""
}

// gradLen is the length shard's results must have.
func (m *Machine) gradLen(shard int) int {
	if m.cfg.ShardGradLen != nil && shard >= 0 && shard < len(m.cfg.ShardGradLen) {
		return m.cfg.ShardGradLen[shard]
	}
	return m.cfg.GradLen
}
