package machine

import (
	"fmt"
	"time"

	"github.com/fsl-project/fsl/params"
)

// Machine is the coordinator's state machine for one job. Create it with
// New; feed it events; drain Ready after each event.
//
// A Machine reads no clock: every event carries now, and time only moves
// through those values (a now earlier than one seen before never makes a
// worker or lease older). It is not safe for concurrent use.
type Machine struct {
	cfg   Config
	step  int // current step: the oldest not yet applied
	phase Phase
	// shards holds the shards of the open steps, a slot per shard: slot
	// i is shard i%S of step step+i/S (S = ShardsPerStep). Without a
	// pipeline only the current step is open; with depth k (Config.Pipeline)
	// the k steps after it are too, for their parameter versions exist
	// (see LagVersion). It is a prefix of slots, sized by open.
	shards []shard
	slots  []shard
	// doneIn counts the shards with an accepted result of each open step,
	// the current one first.
	doneIn  []int
	workers map[string]*worker

	// Indexes that keep each event's cost independent of ShardsPerStep in
	// the common case (see pend, unpend and expire).
	pending     int       // shards in ShardPending
	pendingFrom int       // no shard below this index is pending
	haveExpiry  bool      // some lease may be live
	nextExpiry  time.Time // no live lease has an earlier deadline
	outbox      []Output
	c           counters

	// leaseTime is a running mean of how long a shard takes from lease to
	// accepted result (the holder's own lease); zero until one is seen.
	leaseTime time.Duration
	// suspects counts the known workers for which worker.suspect holds:
	// backupFor looks for their leases only when there are some.
	suspects int
	// now is the latest time an event carried, for Status.
	now time.Time
	// gen changes with every change that may alter what RequestWork
	// answers some worker (see Generation).
	gen uint64
	// lossCheck: no known worker can be lost before it (see sweep); zero
	// when no worker is known.
	lossCheck time.Time

	// Verified results (verify.go): banned workers; for each worker the
	// job took a result of unchecked, the first step it did; the lineage.
	banned  map[string]bool
	trusted map[string]int
	lineage uint64
	// stopped: Stop ended the job before TotalSteps.
	stopped bool
	// prevLosers holds the (step, shard, worker) of the last lostWindow
	// steps whose copies lost the race (another copy was accepted first,
	// or their lease expired): their results, when they come, are Lost,
	// not Invalid.
	prevLosers map[loser]bool
	// prevVerified holds, for the verified shards of the last lostWindow
	// steps, the hash of their settled bits (bitsHash): a lost copy that
	// differs bans its sender, however late it comes.
	prevVerified map[stepShard]uint64
}

// stepShard names one shard of one step.
type stepShard struct{ step, shard int }

// lostWindow is how many steps back a copy that lost the race is still
// recognised as such (see Outcome Lost); an older one is Invalid (stale).
const lostWindow = 16

// loser is a worker whose copy of a shard lost the race.
type loser struct {
	step, shard int
	worker      string
}

// New returns a machine for the job cfg describes, starting at step
// resumeStep with parameters of version resumeStep: 0 for a new job, the
// Step of the loaded checkpoint when resuming. Its first Ready holds a
// JobDone when resumeStep is TotalSteps, and nothing otherwise. Errors wrap ErrInvalidConfig and name every field at fault.
func New(cfg Config, resumeStep int) (*Machine, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if resumeStep < 0 || resumeStep > cfg.TotalSteps {
		return nil, fmt.Errorf("%w: resume step %d, want 0 to TotalSteps %d", ErrInvalidConfig, resumeStep, cfg.TotalSteps)
	}
	m := &Machine{
		cfg:     cfg,
		step:    resumeStep,
		slots:   make([]shard, (cfg.Pipeline+1)*cfg.ShardsPerStep),
		doneIn:  make([]int, cfg.Pipeline+1),
		workers: make(map[string]*worker),
		banned:  make(map[string]bool),
		trusted: make(map[string]int),
		lineage: cfg.Lineage,
	}
	m.open()
	m.chooseVerified()
	if resumeStep == cfg.TotalSteps {
		m.phase = PhaseDone
		m.emit(JobDone{Version: resumeStep})
	}
	return m, nil
}

// Config returns the machine's configuration with defaults filled in.
func (m *Machine) Config() Config { return m.cfg }

// Ready returns the outputs queued since the last call, oldest first, and
// forgets them. The driver must act on each (see Output) in order.
func (m *Machine) Ready() []Output {
	out := m.outbox
	m.outbox = nil
	return out
}

// HasReady reports whether Ready would return anything.
func (m *Machine) HasReady() bool { return len(m.outbox) > 0 }

// Advance tells the machine that the driver has applied the complete
// current step and holds parameters of version newVersion, which must be the
// current step plus one. It moves to the next step (with a pipeline, the
// step ahead keeps its leases and results, and a new step opens at the end
// of the window with every shard pending; without, every shard of the next
// step is pending) and queues a CheckpointDue when one is due, a JobDone
// after the last step, and the next step's StepComplete at once when a
// pipeline had finished it already. It fails, changing nothing, with
// ErrStepIncomplete before the step's StepComplete, with ErrAdvanceVersion
// for any other version, and with ErrJobDone after the last step.
func (m *Machine) Advance(newVersion int) error {
	m.gen++
	switch m.phase {
	case PhaseDone:
		return fmt.Errorf("advance to version %d: %w after %d steps", newVersion, ErrJobDone, m.cfg.TotalSteps)
	case PhaseRunning:
		return fmt.Errorf("advance to version %d: %w: step %d has %d of %d shards", newVersion, ErrStepIncomplete, m.step, m.doneIn[0], m.cfg.ShardsPerStep)
	}
	if newVersion != m.step+1 {
		return fmt.Errorf("advance to version %d: %w: step %d completes version %d", newVersion, ErrAdvanceVersion, m.step, m.step+1)
	}
	if m.prevLosers == nil {
		m.prevLosers = make(map[loser]bool)
	}
	for l := range m.prevLosers {
		if l.step < newVersion-lostWindow {
			delete(m.prevLosers, l)
		}
	}
	for k := range m.prevVerified {
		if k.step < newVersion-lostWindow {
			delete(m.prevVerified, k)
		}
	}
	S := m.cfg.ShardsPerStep
	for i := range m.shards[:S] {
		if sh := &m.shards[i]; sh.settled {
			if m.prevVerified == nil {
				m.prevVerified = make(map[stepShard]uint64)
			}
			m.prevVerified[stepShard{m.step, i}] = bitsHash(&sh.result)
		}
		for _, w := range m.shards[i].losers {
			m.prevLosers[loser{m.step, i, w}] = true
		}
		for _, w := range m.shards[i].expiredBy {
			m.prevLosers[loser{m.step, i, w}] = true
		}
	}
	m.step = newVersion
	m.shift()
	m.c.StepsAdvanced++
	m.c.StepApplied -= S
	last := newVersion == m.cfg.TotalSteps
	if last || (m.cfg.CheckpointEvery > 0 && newVersion%m.cfg.CheckpointEvery == 0) {
		m.emit(CheckpointDue{Step: newVersion, Version: newVersion})
	}
	if last {
		m.phase = PhaseDone
		m.emit(JobDone{Version: newVersion})
		return nil
	}
	m.phase = PhaseRunning
	if m.doneIn[0] == S {
		m.complete() // a pipelined step ahead finished before the one it followed
	}
	return nil
}

// open sizes the window for the current step with every slot empty and
// pending: the current step, and with a pipeline the steps after it up to
// the last.
func (m *Machine) open() {
	clear(m.slots) // drops the old results so their vectors can be freed
	clear(m.doneIn)
	m.shards = m.slots[:m.openSteps()*m.cfg.ShardsPerStep]
	m.pending, m.pendingFrom, m.haveExpiry = len(m.shards), 0, false
}

// openSteps is how many steps the window holds at the current step: the
// current one and up to Pipeline after it, none past the last (but one
// when the job is done, whose shards Status shows).
func (m *Machine) openSteps() int {
	return max(1, min(m.cfg.Pipeline+1, m.cfg.TotalSteps-m.step))
}

// shift moves the window one step on, after Advance: the steps ahead keep
// their slots, leases and results, one step lower, and a new step (when
// there is one) opens at the end with every shard pending.
func (m *Machine) shift() {
	S := m.cfg.ShardsPerStep
	n := copy(m.slots, m.shards[S:])
	clear(m.slots[n:]) // drops the old results so their vectors can be freed
	copy(m.doneIn, m.doneIn[1:])
	m.doneIn[len(m.doneIn)-1] = 0
	m.shards = m.slots[:m.openSteps()*S]
	for _, w := range m.workers {
		kept := w.shards[:0]
		for _, i := range w.shards {
			if i >= S { // a lease of the current step was fulfilled: none left
				kept = append(kept, i-S)
			}
		}
		w.shards = kept
	}
	m.pending, m.pendingFrom = 0, 0
	for i := range m.shards {
		if m.shards[i].state == ShardPending {
			m.pending++
		}
	}
	m.chooseVerified()
	// The leases of the steps ahead moved: the next expire scans them all
	// and finds the earliest deadline again.
	m.haveExpiry, m.nextExpiry = n > 0, time.Time{}
}

// slot is the index in shards of shard of step (both in the window).
func (m *Machine) slot(step, shard int) int { return (step-m.step)*m.cfg.ShardsPerStep + shard }

// stepComplete reports whether the current step, still collecting, has
// every shard.
func (m *Machine) stepComplete() bool {
	return m.phase == PhaseRunning && m.doneIn[0] == m.cfg.ShardsPerStep
}

// Stop ends the job early at the current step's version (early stopping):
// every live lease goes back, the machine moves to PhaseDone and queues
// JobDone{Version: current step}; work requests get Done from then on. It
// fails, changing nothing, with ErrJobDone when the job is done already.
func (m *Machine) Stop() error {
	m.gen++
	if m.phase == PhaseDone {
		return fmt.Errorf("stop at version %d: %w", m.step, ErrJobDone)
	}
	m.abandonStep()
	m.stopped = true
	m.phase = PhaseDone
	m.emit(JobDone{Version: m.step})
	return nil
}

// abandonStep throws the work of every open step away (Stop, Rewind):
// every live lease goes back, their accepted results are discarded, and
// the window reopens at m.step with every shard pending.
func (m *Machine) abandonStep() {
	for i := range m.shards {
		m.c.Returned += len(m.shards[i].leases)
	}
	for _, w := range m.workers {
		w.shards = w.shards[:0]
	}
	m.c.Discarded += m.c.StepApplied
	m.c.StepApplied = 0
	m.open()
}

// Tick lets time pass up to now: leases whose deadline is at or before now
// expire (their shards go back to pending unless another copy is still
// leased) and workers silent for HeartbeatTimeout or longer are lost (their
// leases go back at once). Every other event that carries a now does the
// same first, so Tick only matters when nothing else happens; the driver
// should call it at least every LeaseTimeout/4 or so.
func (m *Machine) Tick(now time.Time) { m.sweep(now) }

// Generation changes whenever a call may have changed what RequestWork
// answers some worker: a result, a lease granted, expired or given back, a
// worker new, lost, gone or banned, a step advanced, stopped or rewound.
// A caller that holds work requests (the driver) asks again only when it
// changed, or when time may have: a lease turns slow enough to copy and a
// quarantine ends with time alone.
func (m *Machine) Generation() uint64 { return m.gen }

// sweep expires leases, then loses silent workers. It scans the workers
// only once the earliest moment one of them can have gone silent for
// HeartbeatTimeout has come (lossCheck): every event calls it, and with
// many workers a scan per event is most of an event's cost.
func (m *Machine) sweep(now time.Time) {
	if now.After(m.now) {
		m.now = now
	}
	m.expire(now)
	if now.Before(m.lossCheck) {
		return
	}
	next := time.Time{}
	for _, w := range m.workers {
		if now.Sub(w.lastSeen) >= m.cfg.HeartbeatTimeout {
			m.returnLeases(w)
			m.forget(w)
			m.c.WorkersLost++
			continue
		}
		if at := w.lastSeen.Add(m.cfg.HeartbeatTimeout); next.IsZero() || at.Before(next) {
			next = at
		}
	}
	// A worker seen later (or a new one) is lost later still: next stays a
	// lower bound until the next scan.
	m.lossCheck = next
}

// complete ends the current step's collection and hands its results over.
func (m *Machine) complete() {
	m.phase = PhaseComplete
	results := make([]params.Result, m.cfg.ShardsPerStep)
	for i := range results {
		results[i] = m.shards[i].result
	}
	m.emit(StepComplete{Step: m.step, Version: LagVersion(m.step, m.cfg.Pipeline), Results: results})
}

func (m *Machine) emit(o Output) { m.outbox = append(m.outbox, o) }
