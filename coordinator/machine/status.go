package machine

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fsl-project/fsl/params"
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

// MarshalText writes p by name ("running"), so JSON carries no bare
// numbers.
func (p Phase) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText reads a name MarshalText wrote.
func (p *Phase) UnmarshalText(b []byte) error {
	for q := PhaseRunning; q <= PhaseDone; q++ {
		if q.String() == string(b) {
			*p = q
			return nil
		}
	}
	return fmt.Errorf("unknown phase %q (want running, complete or done)", b)
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

// MarshalText writes s by name ("leased").
func (s ShardState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a name MarshalText wrote.
func (s *ShardState) UnmarshalText(b []byte) error {
	for q := ShardPending; q <= ShardDone; q++ {
		if q.String() == string(b) {
			*s = q
			return nil
		}
	}
	return fmt.Errorf("unknown shard state %q (want pending, leased or done)", b)
}

// Status is a snapshot of the machine for the status command and the
// dashboard. It shares no memory with the machine. Its JSON (what /status
// and the status subject serve) is snake_case with enums by name.
type Status struct {
	Job        string         `json:"job"`
	Step       int            `json:"step"`    // current step (TotalSteps once done)
	Version    int            `json:"version"` // parameter version the current step is computed at
	TotalSteps int            `json:"total_steps"`
	Phase      Phase          `json:"phase"`
	Shards     []ShardStatus  `json:"shards"`  // index = shard number
	Workers    []WorkerStatus `json:"workers"` // sorted by ID
	Counters   Counters       `json:"counters"`
}

// ShardStatus is the state of one shard of the current step.
type ShardStatus struct {
	Shard  int           `json:"shard"`
	State  ShardState    `json:"state"`
	Leases []LeaseStatus `json:"leases,omitempty"` // live leases, oldest first
	// Attempts counts the leases granted for this shard in this step.
	Attempts int `json:"attempts"`
	// Worker is who sent the accepted result when State is ShardDone.
	Worker string `json:"worker,omitempty"`
	// Verified marks a shard two workers must agree on (Config.Verify);
	// Copies counts the disagreeing copies kept for it so far.
	Verified bool `json:"verified,omitempty"`
	Copies   int  `json:"copies,omitempty"`
}

// LeaseStatus is one live lease.
type LeaseStatus struct {
	Worker   string    `json:"worker"`
	Issued   time.Time `json:"issued"`
	Deadline time.Time `json:"deadline"`
	Attempt  int       `json:"attempt"`
	Backup   bool      `json:"backup"`
}

// WorkerStatus is one known worker.
type WorkerStatus struct {
	ID       string    `json:"id"`
	Joined   time.Time `json:"joined"`
	LastSeen time.Time `json:"last_seen"`
	Shards   []int     `json:"shards"` // shards of the current step it holds live leases on, ascending
	// Strikes counts its leases expired in a row without an accepted
	// result; QuarantinedUntil is when its quarantine ends, zero when it is
	// not quarantined (as of the latest event the machine was fed).
	Strikes          int       `json:"strikes"`
	QuarantinedUntil time.Time `json:"quarantined_until,omitzero"`
	// Tally counts what the machine did with this worker since it last
	// became known (a worker lost or gone and back starts again at zero).
	Tally WorkerTally `json:"tally"`
}

// WorkerTally counts one worker's leases and results.
type WorkerTally struct {
	Leased   int `json:"leased"`   // leases granted, backups included
	Expired  int `json:"expired"`  // its leases that reached their deadline first
	Accepted int `json:"accepted"` // its results accepted (the first valid one of a shard)
	Invalid  int `json:"invalid"`  // its results dropped as invalid
}

// Status returns a snapshot of the machine.
func (m *Machine) Status() Status {
	st := Status{
		Job:        m.cfg.Job,
		Step:       m.step,
		Version:    LagVersion(m.step, m.cfg.Pipeline),
		TotalSteps: m.cfg.TotalSteps,
		Phase:      m.phase,
		Shards:     make([]ShardStatus, m.cfg.ShardsPerStep),
		Workers:    make([]WorkerStatus, 0, len(m.workers)),
		Counters:   m.Counters(),
	}
	for i := range st.Shards {
		sh := &m.shards[i]
		ss := ShardStatus{Shard: i, State: sh.state, Attempts: sh.attempts, Verified: sh.verify, Copies: len(sh.votes)}
		if sh.state == ShardDone {
			ss.Worker = sh.result.Worker
		}
		for _, l := range sh.leases {
			ss.Leases = append(ss.Leases, LeaseStatus{
				Worker: l.holder.id, Issued: l.issued, Deadline: l.deadline,
				Attempt: l.attempt, Backup: l.backup,
			})
		}
		st.Shards[i] = ss
	}
	for _, w := range m.workers {
		shards := make([]int, 0, len(w.shards)) // never nil, even when empty
		for _, i := range w.shards {
			if i < m.cfg.ShardsPerStep { // a pipeline's steps ahead are not listed
				shards = append(shards, i)
			}
		}
		slices.Sort(shards)
		ws := WorkerStatus{ID: w.id, Joined: w.joined, LastSeen: w.lastSeen, Shards: shards, Strikes: w.strikes, Tally: w.tally}
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

// Accepted returns the accepted result of shard of the current step, and
// whether there is one yet. An accepted result is final for its step (a
// verified shard's once two copies agree): a later copy never replaces it,
// and a rollback replaces the whole step.
func (m *Machine) Accepted(shard int) (params.Result, bool) {
	if shard < 0 || shard >= m.cfg.ShardsPerStep || m.shards[shard].state != ShardDone {
		return params.Result{}, false
	}
	return m.shards[shard].result, true
}

// Phase returns where the machine is in the life of the job.
func (m *Machine) Phase() Phase { return m.phase }
