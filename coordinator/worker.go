package coordinator

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
		m.c.WorkersJoined++
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
	m.touch(id, now)
	m.sweep(now)
	return nil
}

// Leave forgets a worker that is shutting down at time now; its leases go
// back at once. Leave of an unknown worker only lets time pass.
func (m *Machine) Leave(id string, now time.Time) {
	if w := m.workers[id]; w != nil {
		m.returnLeases(w)
		delete(m.workers, id)
		m.c.WorkersLeft++
	}
	m.sweep(now)
}
