package machine

import (
	"fmt"
	"slices"
	"time"

	"github.com/fsl-project/fsl/params"
)

// shard is one shard of the current step.
type shard struct {
	state    ShardState
	leases   []lease       // live leases, at most one per worker, oldest first
	attempts int           // leases granted for this shard in this step
	result   params.Result // the accepted result once state is ShardDone

	// expiredBy lists the workers that let a lease on this shard expire in
	// this step, and expiredAt when the last did: they get the shard back
	// only once no one else has taken it for a LeaseTimeout (see reserved).
	expiredBy []string
	expiredAt time.Time
	// losers lists the workers whose live leases were closed by another's
	// accepted result, or taken back for a proven worker's backup (see
	// Machine.prevLosers).
	losers []string

	// verify marks a verified shard (verify.go): it needs two agreeing
	// copies from different workers. votes holds the valid copies kept
	// until then; settled is set once two agreed.
	verify  bool
	votes   []vote
	settled bool
}

// reserved reports whether pending shard s should go to someone other than
// w at now: w let a lease on it expire, and the shard has been pending for
// less than a lease timeout since. After that w may have it back, so a job
// whose only worker is slow still advances.
func (s *shard) reserved(w string, now time.Time, leaseTimeout time.Duration) bool {
	return now.Before(s.expiredAt.Add(leaseTimeout)) && slices.Contains(s.expiredBy, w)
}

// lease is one worker's claim on a shard.
type lease struct {
	// holder is the worker: a lease goes back (returnLeases) before its
	// worker is forgotten, so it never points at one the machine forgot.
	holder   *worker
	issued   time.Time
	deadline time.Time
	attempt  int
	backup   bool
}

// leaseOf returns the index in s.leases of worker's live lease, or -1.
func (s *shard) leaseOf(worker string) int {
	for i, l := range s.leases {
		if l.holder.id == worker {
			return i
		}
	}
	return -1
}

// firstIssued is when s's oldest live lease was issued; s has one.
func (s *shard) firstIssued() time.Time {
	issued := s.leases[0].issued
	for _, l := range s.leases[1:] {
		if l.issued.Before(issued) {
			issued = l.issued
		}
	}
	return issued
}

// backups counts s's live backup leases.
func (s *shard) backups() int {
	n := 0
	for _, l := range s.leases {
		if l.backup {
			n++
		}
	}
	return n
}

// RequestWork answers an idle worker at time now. After the last step it
// answers Done, and while a step waits for Advance, Wait. Otherwise:
//
//   - a quarantined worker (see Config.QuarantineAfter) gets Wait with the
//     rest of its back-off as RetryAfter;
//   - a worker holding MaxLeasesPerWorker live leases gets Wait;
//   - else it gets the lowest-numbered pending shard it did not itself let
//     expire in the last LeaseTimeout (an expired shard goes to another
//     worker first, so a worker that never answers cannot keep one);
//   - failing that, a backup copy: of a slow lease near the end of a step
//     (see Config.BackupWhenRemaining), or at any time, for a proven
//     worker, of a lease only suspects hold (see backupFor);
//   - failing that, Wait.
//
// An unknown worker is registered, as by Join (minus taking back leases).
// A worker may hold several leases, up to the cap: asking again does not
// give up the one it has, which stays until its result, its deadline or the
// worker's loss. The only error is ErrNoWorkerID, with a nil Reply.
func (m *Machine) RequestWork(worker string, now time.Time) (Reply, error) {
	if worker == "" {
		return nil, fmt.Errorf("work request: %w", ErrNoWorkerID)
	}
	if m.banned[worker] {
		m.sweep(now)
		return BannedReply{}, nil
	}
	w := m.touch(worker, now)
	m.sweep(now)
	switch m.phase {
	case PhaseDone:
		return Done{}, nil
	case PhaseComplete:
		if len(m.shards) == m.cfg.ShardsPerStep {
			return Wait{RetryAfter: m.cfg.RetryAfter}, nil
		}
		// A pipeline's steps ahead are open while this one is applied.
	}
	if w.quarantined(now) {
		return Wait{RetryAfter: w.until.Sub(now)}, nil
	}
	i, backup := m.pick(w, now)
	if i < 0 {
		return Wait{RetryAfter: m.cfg.RetryAfter}, nil
	}
	if m.cfg.MaxLeasesPerWorker > 0 && len(w.shards) >= m.cfg.MaxLeasesPerWorker {
		m.c.Refused++
		return Wait{RetryAfter: m.cfg.RetryAfter}, nil
	}
	if backup && w.proven && m.shards[i].backups() >= m.cfg.MaxBackupsPerShard {
		m.takeBackBackup(i)
	}
	return m.grant(i, w, now, backup), nil
}

// takeBackBackup returns the newest backup lease of shard i (a suspect's:
// see backupFor), making room for a proven worker's.
func (m *Machine) takeBackBackup(i int) {
	sh := &m.shards[i]
	for j := len(sh.leases) - 1; j >= 0; j-- {
		if l := sh.leases[j]; l.backup {
			l.holder.drop(i)
			sh.leases = append(sh.leases[:j], sh.leases[j+1:]...)
			// Its holder may still send the copy it was computing: once
			// the step is over that copy lost a race, it is not stale.
			sh.losers = append(sh.losers, l.holder.id)
			m.c.Returned++
			m.restate(i)
			return
		}
	}
}

// MayGrant lets time pass to now, as every event does (expiring leases,
// losing silent workers), then reports whether a work request could get
// anything but Wait (or BannedReply): false only when no shard is pending,
// the job is not done and no leased shard qualifies for a backup copy by
// any worker (see backupFor). It errs towards true. A caller holding many
// idle workers' requests (the driver) asks it once instead of asking
// RequestWork for each; only their being seen alive waits for their next
// request.
func (m *Machine) MayGrant(now time.Time) bool {
	m.sweep(now)
	if m.pending > 0 || m.phase == PhaseDone {
		return true
	}
	if m.phase == PhaseComplete && len(m.shards) == m.cfg.ShardsPerStep {
		return false
	}
	if m.cfg.BackupWhenRemaining == 0 {
		return false
	}
	window := m.cfg.ShardsPerStep-m.doneIn[0] <= m.cfg.BackupWhenRemaining
	if !window && m.suspects == 0 {
		return false
	}
	for i := range m.shards {
		sh := &m.shards[i]
		if sh.state != ShardLeased {
			continue
		}
		if m.heldBySuspects(sh) {
			return true
		}
		if window && sh.backups() < m.cfg.MaxBackupsPerShard && m.slow(sh.firstIssued(), now) {
			return true
		}
	}
	return false
}

// pick chooses the shard w would be leased at now, and whether as a backup;
// -1 when there is none.
func (m *Machine) pick(w *worker, now time.Time) (int, bool) {
	if m.pending > 0 {
		seen := false
		again := -1 // the first pending shard w may have another copy of
		for i := m.pendingFrom; i < len(m.shards); i++ {
			sh := &m.shards[i]
			if sh.state != ShardPending {
				continue
			}
			if !seen {
				seen, m.pendingFrom = true, i
			}
			if sh.reserved(w.id, now, m.cfg.LeaseTimeout) || sh.holds(w.id) {
				continue
			}
			// A shard nobody computes yet comes before another copy of a
			// verified one: the step's work spreads over the workers
			// before any of it is doubled.
			if len(sh.leases)+len(sh.votes) == 0 {
				return i, false
			}
			if again < 0 {
				again = i
			}
		}
		// Every pending shard waits for another worker: no backup either.
		return again, false
	}
	if i := m.backupFor(w, now); i >= 0 {
		return i, true
	}
	return -1, false
}

// grant leases shard i to w.
func (m *Machine) grant(i int, w *worker, now time.Time, backup bool) Lease {
	m.gen++
	sh := &m.shards[i]
	sh.attempts++
	l := lease{
		holder:   w,
		issued:   now,
		deadline: now.Add(m.cfg.LeaseTimeout),
		attempt:  sh.attempts,
		backup:   backup,
	}
	sh.leases = append(sh.leases, l)
	m.restate(i)
	if !m.haveExpiry || l.deadline.Before(m.nextExpiry) {
		m.haveExpiry, m.nextExpiry = true, l.deadline
	}
	w.shards = append(w.shards, i)
	m.c.Leased++
	w.tally.Leased++
	if backup {
		m.c.Backups++
	}
	S := m.cfg.ShardsPerStep
	step := m.step + i/S
	return Lease{
		Step:     step,
		Shard:    i % S,
		Version:  LagVersion(step, m.cfg.Pipeline),
		Lineage:  m.lineage,
		Deadline: l.deadline,
		Attempt:  l.attempt,
		Backup:   backup,
	}
}

// observeLease folds one shard's lease-to-result time into the running
// mean (weight 1/8 for the newest), which decides when a lease is slow.
func (m *Machine) observeLease(d time.Duration) {
	if d < 0 {
		return
	}
	if m.leaseTime == 0 {
		m.leaseTime = d
		return
	}
	m.leaseTime += (d - m.leaseTime) / 8
}

// slow reports whether a lease issued at issued has been out, at now, long
// enough to hedge: BackupSlowFactor times the mean shard time. Before any
// shard time is known every lease counts as slow.
func (m *Machine) slow(issued, now time.Time) bool {
	if m.leaseTime == 0 {
		return true
	}
	return now.Sub(issued) >= time.Duration(m.cfg.BackupSlowFactor*float64(m.leaseTime))
}

// backupFor picks the shard w should get a backup copy of at now, or -1.
// Called only when no shard is pending; none with backups off
// (BackupWhenRemaining 0), and none for a worker with a lease expired since
// its last accepted result.
//
// Near the end of a step (BackupWhenRemaining) a leased shard qualifies
// when it has room for another backup (MaxBackupsPerShard) and its oldest
// lease is slow (see slow: equal workers then never duplicate each other's
// work). At any time, and even at that cap, so does a shard every holder of
// which is suspect (see worker.suspect), for a proven worker only (RequestWork
// then takes back a suspect's backup to make room): a client that takes
// leases and never answers holds up no step, even before its leases
// expire, and other suspects cannot block the copy. The price is a
// duplicate of the first shard of an honest worker that joins while a
// proven one is idle. Of the qualifying shards that w does not already
// hold, it picks the one whose oldest live lease was issued first (the
// likeliest straggler), the lowest number on a tie.
func (m *Machine) backupFor(w *worker, now time.Time) int {
	if m.cfg.BackupWhenRemaining == 0 || w.strikes > 0 {
		return -1
	}
	window := m.cfg.ShardsPerStep-m.doneIn[0] <= m.cfg.BackupWhenRemaining
	// Until some worker has delivered (the job's start, or after every
	// proven worker left) nobody is proven: then any worker without
	// strikes may copy a shard only suspects hold, even past
	// MaxBackupsPerShard (the lease cap still bounds each worker), so
	// clients that took every lease and backup first cannot stall the
	// first step for a lease timeout.
	bootstrap := m.suspects == len(m.workers)
	if !window && ((!w.proven && !bootstrap) || m.suspects == 0) {
		return -1 // keeps an idle worker's request independent of ShardsPerStep
	}
	best := -1
	var bestIssued time.Time
	for i := range m.shards {
		sh := &m.shards[i]
		if sh.state != ShardLeased || sh.holds(w.id) {
			continue
		}
		issued := sh.firstIssued()
		hedge := window && sh.backups() < m.cfg.MaxBackupsPerShard && m.slow(issued, now)
		if !hedge && !((w.proven || bootstrap) && m.heldBySuspects(sh)) {
			continue
		}
		// At the start, the shard with the fewest copies out, so the
		// workers that ask spread over the shards; then (and otherwise)
		// the likeliest straggler.
		switch {
		case best < 0:
		case bootstrap && len(sh.leases) != len(m.shards[best].leases):
			if len(sh.leases) > len(m.shards[best].leases) {
				continue
			}
		case !issued.Before(bestIssued):
			continue
		}
		best, bestIssued = i, issued
	}
	return best
}

// heldBySuspects reports whether every live lease on sh is a suspect's;
// never when no worker is a suspect, the common case.
func (m *Machine) heldBySuspects(sh *shard) bool {
	if m.suspects == 0 {
		return false
	}
	for _, l := range sh.leases {
		if !l.holder.suspect() {
			return false
		}
	}
	return true
}

// expire drops every lease whose deadline is at or before now. It scans the
// shards only when the earliest deadline may have passed.
func (m *Machine) expire(now time.Time) {
	if m.phase == PhaseDone || !m.haveExpiry || now.Before(m.nextExpiry) {
		return
	}
	m.haveExpiry = false
	for i := range m.shards {
		sh := &m.shards[i]
		if sh.state == ShardDone || len(sh.leases) == 0 {
			continue // a pending shard may hold leases: a verified one short of copies
		}
		kept := sh.leases[:0]
		for _, l := range sh.leases {
			if now.Before(l.deadline) {
				kept = append(kept, l)
				if !m.haveExpiry || l.deadline.Before(m.nextExpiry) {
					m.haveExpiry, m.nextExpiry = true, l.deadline
				}
				continue
			}
			m.c.Expired++
			m.gen++ // the shard is pending again
			w := l.holder
			w.tally.Expired++
			w.drop(i)
			m.strike(w, now)
			if !slices.Contains(sh.expiredBy, w.id) {
				sh.expiredBy = append(sh.expiredBy, w.id)
			}
			sh.expiredAt = now
		}
		sh.leases = kept
		m.restate(i)
	}
}

// returnLeases takes back every lease w holds; shards left with no live
// lease go back to pending.
func (m *Machine) returnLeases(w *worker) {
	if len(w.shards) > 0 {
		m.gen++ // its shards are pending again
	}
	for _, i := range w.shards {
		sh := &m.shards[i]
		if j := sh.leaseOf(w.id); j >= 0 {
			sh.leases = append(sh.leases[:j], sh.leases[j+1:]...)
			m.c.Returned++
		}
		m.restate(i)
	}
	w.shards = w.shards[:0]
}

// pend puts slot i back to pending.
func (m *Machine) pend(i int) {
	m.shards[i].state = ShardPending
	m.pending++
	m.pendingFrom = min(m.pendingFrom, i)
}

// restate moves shard i, not done, between pending and leased: pending
// while it wants more copies than its live leases and kept copies (see
// shard.short), leased otherwise.
func (m *Machine) restate(i int) {
	switch sh := &m.shards[i]; {
	case sh.state == ShardLeased && sh.short():
		m.pend(i)
	case sh.state == ShardPending && !sh.short():
		m.unpend(i, ShardLeased)
	}
}

// unpend moves pending shard i to state st (leased or done).
func (m *Machine) unpend(i int, st ShardState) {
	m.shards[i].state = st
	m.pending--
}
