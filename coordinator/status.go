package coordinator

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Phase is where the machine is in the life of the job.
type Phase int

// Phases of a Machine.
const (
	// PhaseRunning: collecting results for the current step.
	PhaseRunning Phase = iota
	// PhaseComplete: every shard is in and StepComplete was queued; waiting
	// for Advance. Work requests get Wait.
	PhaseComplete
	// PhaseDone: all steps applied. Work requests get Done.
	PhaseDone
)

func (p Phase) String() string {
	switch p {
	case PhaseRunning:
		return "running"
	case PhaseComplete:
		return "complete"
	case PhaseDone:
		return "done"
	}
	return fmt.Sprintf("Phase(%d)", int(p))
}

// ShardState is the state of one shard of the current step.
type ShardState int

// States of a shard.
const (
	// ShardPending: no result and no live lease; the next work request gets
	// it.
	ShardPending ShardState = iota
	// ShardLeased: no result yet; one or more workers hold live leases.
	ShardLeased
	// ShardDone: its result is accepted.
	ShardDone
)

func (s ShardState) String() string {
	switch s {
	case ShardPending:
		return "pending"
	case ShardLeased:
		return "leased"
	case ShardDone:
		return "done"
	}
	return fmt.Sprintf("ShardState(%d)", int(s))
}

// Status is a snapshot of the machine for the status command and the
// dashboard. It shares no memory with the machine.
type Status struct {
	Job        string
	Step       int // current step (TotalSteps once done)
	Version    int // parameter version the current step is computed at
	TotalSteps int
	Phase      Phase
	Shards     []ShardStatus  // index = shard number
	Workers    []WorkerStatus // sorted by ID
	Counters   Counters
}

// ShardStatus is the state of one shard of the current step.
type ShardStatus struct {
	Shard  int
	State  ShardState
	Leases []LeaseStatus // live leases, oldest first
	// Attempts counts the leases granted for this shard in this step.
	Attempts int
	// Worker is who sent the accepted result when State is ShardDone.
	Worker string
	// Verified marks a shard two workers must agree on (Config.Verify);
	// Copies counts the disagreeing copies kept for it so far.
	Verified bool
	Copies   int
}

// LeaseStatus is one live lease.
type LeaseStatus struct {
	Worker   string
	Issued   time.Time
	Deadline time.Time
	Attempt  int
	Backup   bool
}

// WorkerStatus is one known worker.
type WorkerStatus struct {
	ID       string
	Joined   time.Time
	LastSeen time.Time
	Shards   []int // shards of the current step it holds live leases on, ascending
	// Strikes counts its leases expired in a row without an accepted
	// result; QuarantinedUntil is when its quarantine ends, zero when it is
	// not quarantined (as of the latest event the machine was fed).
	Strikes          int
	QuarantinedUntil time.Time
}

// Status returns a snapshot of the machine.
func (m *Machine) Status() Status {
	st := Status{
		Job:        m.cfg.Job,
		Step:       m.step,
		Version:    m.step,
		TotalSteps: m.cfg.TotalSteps,
		Phase:      m.phase,
		Shards:     make([]ShardStatus, len(m.shards)),
		Workers:    make([]WorkerStatus, 0, len(m.workers)),
		Counters:   m.Counters(),
	}
	for i := range m.shards {
		sh := &m.shards[i]
		ss := ShardStatus{Shard: i, State: sh.state, Attempts: sh.attempts, Verified: sh.verify, Copies: len(sh.votes)}
		if sh.state == ShardDone {
			ss.Worker = sh.result.Worker
		}
		for _, l := range sh.leases {
			ss.Leases = append(ss.Leases, LeaseStatus{
				Worker: l.worker, Issued: l.issued, Deadline: l.deadline,
				Attempt: l.attempt, Backup: l.backup,
			})
		}
		st.Shards[i] = ss
	}
	for _, w := range m.workers {
		shards := make([]int, len(w.shards)) // never nil, even when empty
		copy(shards, w.shards)
		slices.Sort(shards)
		ws := WorkerStatus{ID: w.id, Joined: w.joined, LastSeen: w.lastSeen, Shards: shards, Strikes: w.strikes}
		if w.quarantined(m.now) {
			ws.QuarantinedUntil = w.until
		}
		st.Workers = append(st.Workers, ws)
	}
	slices.SortFunc(st.Workers, func(a, b WorkerStatus) int { return strings.Compare(a.ID, b.ID) })
	return st
}

// Quarantined counts the workers quarantined in s.
func (s Status) Quarantined() int {
	n := 0
	for _, w := range s.Workers {
		if !w.QuarantinedUntil.IsZero() {
			n++
		}
	}
	return n
}

// Step returns the current step, which is also the version of the
// parameters it is computed at; TotalSteps once the job is done.
func (m *Machine) Step() int { return m.step }

// Phase returns where the machine is in the life of the job.
func (m *Machine) Phase() Phase { return m.phase }
