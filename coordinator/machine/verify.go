package machine

import (
	"fmt"
	"math"
	"slices"

	"github.com/fsl-project/fsl/params"
)

// Verified results.
//
// Within one compute class a shard's result is a pure function of (job,
// step, shard, parameters), so two honest workers return the same bits. With
// Config.Verify > 0 the machine has that fraction of each step's shards
// computed by two different workers and accepts a verified shard only when
// two copies agree bit for bit. A disagreement is settled by more copies,
// each from a worker that has not sent one: the first value two workers
// agree on wins, and every worker whose copy differs from it is banned for
// the job. A copy that differs from an already settled shard's value bans
// its sender too.
//
// A banned worker's results that the job took unchecked (the shards not
// verified) may be wrong as well, and they are inside the parameters: the
// machine remembers, per worker, the first step at which it accepted an
// unchecked result of it, and a ban of a worker with such a step queues a
// Rollback to it. The driver restores the newest checkpoint at or before
// that step and calls Rewind; the steps from there are recomputed without
// the banned worker, so the final parameters are those of a run without it.
//
// Which shards are verified is decided per step by a keyed hash
// (Config.VerifyKey): a worker cannot tell a verified lease from another,
// so a worker that cheats on a fraction f of its shards is caught at each
// with probability Verify, and the chance that n of its wrong results all
// go unchecked is (1-Verify)^n.

// vote is one worker's valid copy of a verified shard, kept until the shard
// is settled.
type vote struct {
	worker string
	result params.Result
}

// voted reports whether worker sent a copy of s that is kept.
func (s *shard) voted(worker string) bool {
	return slices.ContainsFunc(s.votes, func(v vote) bool { return v.worker == worker })
}

// holds reports whether worker holds a live lease on s or sent a copy of it
// that is kept: it must not get s again.
func (s *shard) holds(worker string) bool { return s.leaseOf(worker) >= 0 || s.voted(worker) }

// copiesWanted is how many kept copies plus live leases shard s needs: one
// for a shard that is not verified; two for a verified one, and one more
// than it has once two or more disagree.
func (s *shard) copiesWanted() int {
	switch {
	case !s.verify:
		return 1
	case len(s.votes) < 2:
		return 2
	}
	return len(s.votes) + 1
}

// short reports whether s wants more leases than it has: a pending shard
// with live leases is a verified one still short of copies.
func (s *shard) short() bool { return len(s.votes)+len(s.leases) < s.copiesWanted() }

// sameBits reports whether two results of one shard carry the same bits:
// gradients, statistics, loss and count.
func sameBits(a, b *params.Result) bool {
	if a.Count != b.Count || math.Float64bits(a.Loss) != math.Float64bits(b.Loss) ||
		len(a.Grads) != len(b.Grads) || len(a.Stats) != len(b.Stats) {
		return false
	}
	for i, x := range a.Grads {
		if math.Float32bits(x) != math.Float32bits(b.Grads[i]) {
			return false
		}
	}
	for i, x := range a.Stats {
		if math.Float32bits(x) != math.Float32bits(b.Stats[i]) {
			return false
		}
	}
	return true
}

// bitsHash is a 64-bit FNV-1a hash of a result's bits (those sameBits
// compares): what the machine keeps of a settled verified shard once its
// step is over, to judge copies that come later (see Machine.lost).
func bitsHash(r *params.Result) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	mix := func(x uint64) {
		for range 8 {
			h ^= x & 0xff
			h *= prime
			x >>= 8
		}
	}
	mix(uint64(r.Count))
	mix(math.Float64bits(r.Loss))
	mix(uint64(len(r.Grads)))
	for _, x := range r.Grads {
		mix(uint64(math.Float32bits(x)))
	}
	mix(uint64(len(r.Stats)))
	for _, x := range r.Stats {
		mix(uint64(math.Float32bits(x)))
	}
	return h
}

// chooseVerified marks the current step's verified shards.
func (m *Machine) chooseVerified() {
	if m.cfg.Verify <= 0 {
		return
	}
	S := m.cfg.ShardsPerStep
	for i := range m.shards {
		m.shards[i].verify = m.verified(m.step+i/S, i%S)
	}
}

// verified decides whether shard i of step is verified: a keyed hash of
// (step, shard) below Verify.
func (m *Machine) verified(step, i int) bool {
	if m.cfg.Verify >= 1 {
		return true
	}
	x := m.cfg.VerifyKey ^ (uint64(step)+1)*0x9e3779b97f4a7c15 ^ (uint64(i)+1)*0xbf58476d1ce4e5b9
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return float64(x>>11)/(1<<53) < m.cfg.Verify
}

// trust records that a result of worker was accepted unchecked in the
// current step.
func (m *Machine) trust(worker string) {
	if m.cfg.Verify <= 0 {
		return
	}
	if _, ok := m.trusted[worker]; !ok {
		m.trusted[worker] = m.step
	}
}

// vote takes a valid result r for verified shard r.Shard, not yet settled.
func (m *Machine) vote(r params.Result, from *worker) Verdict {
	i := m.slot(r.Step, r.Shard)
	sh := &m.shards[i]
	if sh.voted(r.Worker) {
		m.c.Duplicates++
		return Verdict{Outcome: Duplicate}
	}
	late := true
	if li := sh.leaseOf(r.Worker); li >= 0 {
		late = false
		sh.leases = append(sh.leases[:li], sh.leases[li+1:]...)
		m.c.Fulfilled++
		if from != nil {
			from.drop(i)
		}
	} else {
		m.c.Late++
	}
	for _, v := range sh.votes {
		if sameBits(&v.result, &r) {
			m.settle(i, r, from)
			return Verdict{Outcome: Accepted, Late: late}
		}
	}
	sh.votes = append(sh.votes, vote{r.Worker, r})
	m.c.Held++
	v := Verdict{Outcome: Held, Late: late}
	if len(sh.votes) > 1 {
		m.c.Mismatches++
		v.Mismatch = true
		v.Detail = fmt.Sprintf("step %d shard %d: copies of %d workers differ; another worker must settle it", r.Step, r.Shard, len(sh.votes))
	}
	m.restate(i)
	return v
}

// settle accepts r, which a kept copy agrees with, as verified shard i's
// result, and bans every worker whose kept copy differs.
func (m *Machine) settle(i int, r params.Result, from *worker) {
	sh := &m.shards[i]
	m.accept(i, r)
	sh.settled = true
	m.c.Checks++
	votes := sh.votes
	sh.votes = nil
	if from != nil {
		m.acquit(from)
	}
	for _, v := range votes {
		if sameBits(&v.result, &r) {
			if w := m.workers[v.worker]; w != nil {
				m.acquit(w)
			}
			continue
		}
		m.ban(v.worker, m.step+i/m.cfg.ShardsPerStep, i%m.cfg.ShardsPerStep)
	}
	if m.stepComplete() {
		m.complete()
	}
}

// ban bans worker for the job, for its copy of shard of step: its leases
// go back, its kept copies of the open steps' shards are dropped, and,
// when the job took a result of it unchecked, a Rollback to the first such
// step is queued (or an earlier queued one kept).
func (m *Machine) ban(worker string, step, shard int) {
	if m.banned[worker] {
		return
	}
	m.banned[worker] = true
	m.c.Bans++
	if w := m.workers[worker]; w != nil {
		m.returnLeases(w)
		m.forget(w)
		m.c.expelled++
	}
	for i := range m.shards {
		sh := &m.shards[i]
		if sh.state == ShardDone || !sh.voted(worker) {
			continue
		}
		sh.votes = slices.DeleteFunc(sh.votes, func(v vote) bool { return v.worker == worker })
		m.restate(i)
	}
	m.emit(Banned{Worker: worker, Step: step, Shard: shard})
	f, ok := m.trusted[worker]
	if !ok {
		return
	}
	for j, o := range m.outbox {
		if rb, is := o.(Rollback); is {
			if f < rb.Step {
				m.outbox[j] = Rollback{Step: f, Worker: worker}
			}
			return
		}
	}
	m.emit(Rollback{Step: f, Worker: worker})
}

// Banned reports whether worker is banned for the job.
func (m *Machine) Banned(worker string) bool { return m.banned[worker] }

// Trust returns, for each worker the job took a result of unchecked (a shard
// not verified) since the newest checkpoint it may roll back to, the first
// step at which it did; and the banned workers, sorted. The driver stores
// both with each checkpoint and gives them back to a restarted machine with
// RestoreTrust, so a ban after a restart still rolls back far enough.
func (m *Machine) Trust() (trusted map[string]int, banned []string) {
	trusted = make(map[string]int, len(m.trusted))
	for w, s := range m.trusted {
		trusted[w] = s
	}
	for w := range m.banned {
		banned = append(banned, w)
	}
	slices.Sort(banned)
	return trusted, banned
}

// RestoreTrust gives a new machine what Trust returned before a restart.
// Steps at or after the machine's current step are dropped: those results
// are recomputed.
func (m *Machine) RestoreTrust(trusted map[string]int, banned []string) {
	m.gen++
	for w, s := range trusted {
		if s < m.step {
			m.trusted[w] = s
		}
	}
	for _, w := range banned {
		m.banned[w] = true
	}
}

// Lineage is how many rollbacks the job's parameters have been through:
// Config.Lineage plus one per Rewind. Leases carry it, and results must
// echo it.
func (m *Machine) Lineage() uint64 { return m.lineage }

// Rewind moves the machine back to step version, after a Rollback, once the
// driver holds the parameters of that version (a checkpoint at or before the
// Rollback's step). Every live lease goes back and the current step's
// accepted results are discarded (Counters.Discarded); workers, bans,
// quarantines and counters stay. The lineage grows by one, so results and
// parameter requests of the discarded lineage are refused. Outputs queued
// and not yet drained are dropped: they describe the discarded steps.
// It fails, changing nothing, for a version outside [0, current step].
func (m *Machine) Rewind(version int) error {
	m.gen++
	if version < 0 || version > m.step || version >= m.cfg.TotalSteps {
		return fmt.Errorf("rewind to version %d: %w: want 0 to %d", version, ErrAdvanceVersion, min(m.step, m.cfg.TotalSteps-1))
	}
	m.c.StepsRolledBack += m.step - version
	m.c.Rollbacks++
	m.step = version
	m.abandonStep() // reopens the window at the new step
	m.prevLosers, m.prevVerified = nil, nil
	m.phase = PhaseRunning
	m.lineage++
	m.chooseVerified()
	for w, s := range m.trusted {
		if s >= version {
			delete(m.trusted, w)
		}
	}
	m.outbox = nil
	return nil
}
