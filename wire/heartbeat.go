package wire

// Heartbeat is published by a worker on Subjects.Heartbeat every
// JoinAck.HeartbeatEvery, so the coordinator knows it is alive and what it is
// working on.
type Heartbeat struct {
	// Worker is the WorkerID from JoinAck.
	Worker string
	// Busy says whether the worker holds a lease; Step, Shard and Attempt
	// name it when it does.
	Busy    bool
	Step    uint64
	Shard   int
	Attempt int
	// Version is the newest parameter version the worker holds.
	Version uint64
}

// Type implements Message.
func (*Heartbeat) Type() Type { return TypeHeartbeat }

func (m *Heartbeat) sizeHint() int { return 48 + len(m.Worker) }

func (m *Heartbeat) encode(e *encoder) {
	e.str("worker", m.Worker)
	e.boolean(m.Busy)
	e.u64(m.Step)
	e.int(m.Shard)
	e.int(m.Attempt)
	e.u64(m.Version)
}

func (m *Heartbeat) decode(d *decoder) {
	m.Worker = d.str("worker")
	m.Busy = d.boolean("busy")
	m.Step = d.u64("step")
	m.Shard = d.int("shard")
	m.Attempt = d.int("attempt")
	m.Version = d.u64("version")
}
