package wire

import "github.com/fsl-project/fsl/params"

// Result is a worker's answer to a Lease, published on Subjects.Result
// (chunked when large).
type Result struct {
	// Worker is the WorkerID from JoinAck.
	Worker string
	// Step, Shard and Version echo the Lease.
	Step    uint64
	Shard   int
	Version uint64
	// Loss is the shard's mean loss; Count the number of loss terms (pairs,
	// triplets or queries) it averages over.
	Loss  float64
	Count int
	// Grads is the gradient of the shard's mean loss, laid out as the
	// parameters (the coordinator weights shards by Count); Stats holds
	// extra per-shard values (e.g. batch-norm statistics), possibly empty.
	Grads params.Vector
	Stats params.Vector
	// LayoutHash identifies the layout Grads follows.
	LayoutHash uint64
}

// Type implements Message.
func (*Result) Type() Type { return TypeResult }

func (m *Result) sizeHint() int { return 64 + len(m.Worker) + 4*len(m.Grads) + 4*len(m.Stats) }

func (m *Result) encode(e *encoder) {
	e.str("worker", m.Worker)
	e.u64(m.Step)
	e.int(m.Shard)
	e.u64(m.Version)
	e.f64(m.Loss)
	e.int(m.Count)
	e.f32s("grads", m.Grads)
	e.f32s("stats", m.Stats)
	e.u64(m.LayoutHash)
}

func (m *Result) decode(d *decoder) {
	m.Worker = d.str("worker")
	m.Step = d.u64("step")
	m.Shard = d.int("shard")
	m.Version = d.u64("version")
	m.Loss = d.f64("loss")
	m.Count = d.int("count")
	m.Grads = d.f32s("grads")
	m.Stats = d.f32s("stats")
	m.LayoutHash = d.u64("layout_hash")
}
