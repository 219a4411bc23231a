package wire

import "time"

// Join is a worker's first message on Subjects.Join.
type Join struct {
	// Worker is the worker's human-readable name (host name, pod name).
	Worker string
	// ID is the worker's unique instance ID; a restarted worker gets a new
	// one.
	ID string
	// Threads is the number of CPU threads the worker computes with.
	Threads int
	// GPU is the device index the worker computes on; -1 is the CPU.
	GPU int
	// Version is the worker's build version, for logs and compatibility
	// checks.
	Version string
}

// Type implements Message.
func (*Join) Type() Type { return TypeJoin }

func (m *Join) sizeHint() int { return 32 + len(m.Worker) + len(m.ID) + len(m.Version) }

func (m *Join) encode(e *encoder) {
	e.str("worker", m.Worker)
	e.str("id", m.ID)
	e.Int(m.Threads)
	e.Int(m.GPU)
	e.str("version", m.Version)
}

func (m *Join) decode(d *decoder) {
	m.Worker = d.str("worker")
	m.ID = d.str("id")
	m.Threads = d.Int("threads")
	m.GPU = d.Int("gpu")
	m.Version = d.str("version")
}

// JoinAck is the coordinator's reply to Join: what the worker needs to take
// part in the job.
type JoinAck struct {
	// Job is the job ID.
	Job string
	// WorkerID is the ID the coordinator knows the worker by; the worker
	// puts it in every later message.
	WorkerID string
	// LeaseTimeout is how long a lease lasts before its shard is handed to
	// someone else.
	LeaseTimeout time.Duration
	// HeartbeatEvery is how often the worker should publish a Heartbeat.
	HeartbeatEvery time.Duration
	// Version is the coordinator's current parameter version.
	Version uint64
	// LayoutHash identifies the parameter layout; Result and Params carry it
	// so mismatched models are refused.
	LayoutHash uint64
	// Spec is the job specification the worker builds its model from, in
	// an encoding the coordinator and worker agree on; opaque to wire.
	Spec []byte
	// Epoch identifies the coordinator process: random, new at every
	// start. A CtlHello with another epoch means this one is gone.
	Epoch uint64
}

// Type implements Message.
func (*JoinAck) Type() Type { return TypeJoinAck }

func (m *JoinAck) sizeHint() int { return 56 + len(m.Job) + len(m.WorkerID) + len(m.Spec) }

func (m *JoinAck) encode(e *encoder) {
	e.str("job", m.Job)
	e.str("worker_id", m.WorkerID)
	e.dur(m.LeaseTimeout)
	e.dur(m.HeartbeatEvery)
	e.U64(m.Version)
	e.U64(m.LayoutHash)
	e.bytes("spec", m.Spec)
	e.U64(m.Epoch)
}

func (m *JoinAck) decode(d *decoder) {
	m.Job = d.str("job")
	m.WorkerID = d.str("worker_id")
	m.LeaseTimeout = d.dur("lease_timeout")
	m.HeartbeatEvery = d.dur("heartbeat_every")
	m.Version = d.U64("version")
	m.LayoutHash = d.U64("layout_hash")
	m.Spec = d.bytes("spec")
	m.Epoch = d.U64("epoch")
}
