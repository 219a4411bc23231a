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
	e.Bool(m.Busy)
	e.U64(m.Step)
	e.Int(m.Shard)
	e.Int(m.Attempt)
	e.U64(m.Version)
}

func (m *Heartbeat) decode(d *decoder) {
	m.Worker = d.str("worker")
	m.Busy = d.Bool("busy")
	m.Step = d.U64("step")
	m.Shard = d.Int("shard")
	m.Attempt = d.Int("attempt")
	m.Version = d.U64("version")
}
