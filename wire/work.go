package wire

import (
	"time"

	"github.com/fsl-project/fsl/params"
)

// WorkRequest is a worker's request for a shard on Subjects.Work. The reply
// is a Lease, a Wait, a Done, or an Error with CodeWrongClass when the
// worker's compute class is not the job's or CodeBanned when the job banned
// the worker.
type WorkRequest struct {
	// Worker is the WorkerID from JoinAck.
	Worker string
	// Canary is the worker's model.Canary for the job's model: the hash of
	// one fixed step, equal on every worker that computes the same bits.
	Canary string
	// Class is the worker's model.Class: what it says decides its bits,
	// for messages.
	Class string
}

// Type implements Message.
func (*WorkRequest) Type() Type { return TypeWorkRequest }

func (m *WorkRequest) sizeHint() int { return 12 + len(m.Worker) + len(m.Canary) + len(m.Class) }

func (m *WorkRequest) encode(e *encoder) {
	e.str("worker", m.Worker)
	e.str("canary", m.Canary)
	e.str("class", m.Class)
}

func (m *WorkRequest) decode(d *decoder) {
	m.Worker = d.str("worker")
	m.Canary = d.str("canary")
	m.Class = d.str("class")
}

// Lease hands one shard of one step to a worker.
type Lease struct {
	// Step is the training step; Shard the shard within it.
	Step  uint64
	Shard int
	// Version is the parameter version the gradient must be computed at,
	// and Lineage the rollbacks the job's parameters had been through: a
	// rollback recomputes versions, so parameters are one value per
	// (Lineage, Version), and a worker's cache must be keyed by both.
	Version uint64
	Lineage uint64
	// Timeout is how long the lease lasts, counted from when the worker
	// receives it. A duration, not a wall-clock deadline: machines' clocks
	// differ; the coordinator keeps the authoritative deadline.
	Timeout time.Duration
	// Attempt counts the times this (step, shard) was leased before: 0 for
	// the first lease, more for re-leases after expiry and backups.
	Attempt int
	// Batch is the shard's input.
	Batch params.Batch
}

// Type implements Message.
func (*Lease) Type() Type { return TypeLease }

func (m *Lease) sizeHint() int { return 48 + batchSizeHint(&m.Batch) }

func (m *Lease) encode(e *encoder) {
	e.U64(m.Step)
	e.Int(m.Shard)
	e.U64(m.Version)
	e.U64(m.Lineage)
	e.dur(m.Timeout)
	e.Int(m.Attempt)
	encodeBatch(e, &m.Batch)
}

func (m *Lease) decode(d *decoder) {
	m.Step = d.U64("step")
	m.Shard = d.Int("shard")
	m.Version = d.U64("version")
	m.Lineage = d.U64("lineage")
	m.Timeout = d.dur("timeout")
	m.Attempt = d.Int("attempt")
	decodeBatch(d, &m.Batch)
}

// Wait tells a worker there is no shard for it now.
type Wait struct {
	// RetryAfter is how long the worker should wait before asking again.
	RetryAfter time.Duration
	// Reason says why, for logs ("step 12 fully leased", "checkpointing").
	Reason string
}

// Type implements Message.
func (*Wait) Type() Type { return TypeWait }

func (m *Wait) sizeHint() int { return 12 + len(m.Reason) }

func (m *Wait) encode(e *encoder) {
	e.dur(m.RetryAfter)
	e.str("reason", m.Reason)
}

func (m *Wait) decode(d *decoder) {
	m.RetryAfter = d.dur("retry_after")
	m.Reason = d.str("reason")
}

// Done tells a worker the job has finished; it should stop asking.
type Done struct {
	// FinalVersion is the parameter version the job ended with.
	FinalVersion uint64
}

// Type implements Message.
func (*Done) Type() Type { return TypeDone }

func (m *Done) sizeHint() int { return 8 }

func (m *Done) encode(e *encoder) { e.U64(m.FinalVersion) }

func (m *Done) decode(d *decoder) { m.FinalVersion = d.U64("final_version") }
