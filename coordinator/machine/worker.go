package machine

import (
	"fmt"
	"time"
)

// worker is one known worker.
type worker struct {
	id       string
	joined   time.Time
	lastSeen time.Time
	shards   []int // shards of the current step it holds a live lease on

	// strikes counts its leases that expired in a row with no accepted
	// result from it in between; until is when its quarantine ends (see
	// Config.QuarantineAfter).
	strikes int
	until   time.Time
	// proven: a result of it was accepted since the machine knew it.
	proven bool
	tally  WorkerTally // what Status reports of it
}

// suspect reports whether w has yet to show it computes: none of its
// results was accepted since the machine knew it, or a lease of its expired
// since its last accepted one.
func (w *worker) suspect() bool { return !w.proven || w.strikes > 0 }

// forget deletes w, lost or gone.
func (m *Machine) forget(w *worker) {
	m.gen++ // one suspect or proven worker fewer
	if w.suspect() {
		m.suspects--
	}
	delete(m.workers, w.id)
}

// quarantined reports whether w's work requests are refused at now.
func (w *worker) quarantined(now time.Time) bool { return now.Before(w.until) }

// strike records that one of w's leases expired at now, and quarantines w
// once QuarantineAfter have in a row: for QuarantineFor, doubled for each
// further strike, up to QuarantineMax.
func (m *Machine) strike(w *worker, now time.Time) {
	if !w.suspect() {
		m.suspects++
	}
	w.strikes++
	n := m.cfg.QuarantineAfter
	if n == 0 || w.strikes < n {
		return
	}
	d := m.cfg.QuarantineFor
	for k := w.strikes - n; k > 0 && d < m.cfg.QuarantineMax; k-- {
		d *= 2
	}
	d = min(d, m.cfg.QuarantineMax)
	if !w.quarantined(now) {
		m.c.Quarantines++
	}
	if end := now.Add(d); end.After(w.until) {
		w.until = end
	}
}

// acquit marks w proven, clears its strikes and ends its quarantine: it delivered an
// accepted result, so it computes. Only an accepted result counts: a
// duplicate takes no work to forge (any valid-shaped vector of a finished
// shard), so it must not lift a quarantine.
func (m *Machine) acquit(w *worker) {
	if w.suspect() {
		m.suspects--
	}
	w.proven = true
	w.strikes = 0
	w.until = time.Time{}
}

// drop forgets w's lease on shard i.
func (w *worker) drop(i int) {
	for j, s := range w.shards {
		if s == i {
			w.shards = append(w.shards[:j], w.shards[j+1:]...)
			return
		}
	}
}

// touch registers id if unknown and records that it was seen at now.
func (m *Machine) touch(id string, now time.Time) *worker {
	w := m.workers[id]
	if w == nil {
		w = &worker{id: id, joined: now, lastSeen: now}
		m.workers[id] = w
		m.gen++
		m.suspects++
		m.c.WorkersJoined++
		// An event may carry a time before one seen already: keep
		// lossCheck a lower bound of this worker's loss too.
		if at := now.Add(m.cfg.HeartbeatTimeout); at.Before(m.lossCheck) {
			m.lossCheck = at
		}
	}
	if now.After(w.lastSeen) {
		w.lastSeen = now
	}
	return w
}

// Join registers a worker at time now. A worker that joins again while
// known has restarted and lost whatever it was computing, so its leases go
// back at once (a result it still sends is accepted if first). The only
// error is ErrNoWorkerID.
func (m *Machine) Join(id string, now time.Time) error {
	if id == "" {
		return fmt.Errorf("join: %w", ErrNoWorkerID)
	}
	if m.banned[id] {
		m.sweep(now)
		return fmt.Errorf("join of %q: %w: a result of it differed from the bits two other workers agreed on", id, ErrBanned)
	}
	if w := m.workers[id]; w != nil {
		m.returnLeases(w)
	}
	m.touch(id, now)
	m.sweep(now)
	return nil
}

// Heartbeat records that a worker is alive at time now; an unknown worker is
// registered, as after a coordinator restart. The only error is
// ErrNoWorkerID.
func (m *Machine) Heartbeat(id string, now time.Time) error {
	if id == "" {
		return fmt.Errorf("heartbeat: %w", ErrNoWorkerID)
	}
	if m.banned[id] {
		m.sweep(now)
		return nil
	}
	m.touch(id, now)
	m.sweep(now)
	return nil
}

// Leave forgets a worker that is shutting down at time now; its leases go
// back at once. Leave of an unknown worker only lets time pass.
func (m *Machine) Leave(id string, now time.Time) {
	if w := m.workers[id]; w != nil {
		m.returnLeases(w)
		m.forget(w)
		m.c.WorkersLeft++
	}
	m.sweep(now)
}
