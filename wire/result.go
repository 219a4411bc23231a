package wire

import "github.com/fsl-project/fsl/params"

// Result carries a worker's params.Result, its answer to a Lease, on
// Subjects.Result (chunked when large). Step and Version travel as u64.
type Result struct {
	params.Result
}

// Type implements Message.
func (*Result) Type() Type { return TypeResult }

func (m *Result) sizeHint() int { return 72 + len(m.Worker) + 4*len(m.Grads) + 4*len(m.Stats) }

func (m *Result) encode(e *encoder) {
	e.str("worker", m.Worker)
	e.U64(uint64(m.Step))
	e.Int(m.Shard)
	e.U64(uint64(m.Version))
	e.F64(m.Loss)
	e.Int(m.Count)
	e.f32s("grads", m.Grads)
	e.f32s("stats", m.Stats)
	e.U64(m.LayoutHash)
	e.U64(m.Lineage)
}

func (m *Result) decode(d *decoder) {
	m.Worker = d.str("worker")
	m.Step = d.uint("step")
	m.Shard = d.Int("shard")
	m.Version = d.uint("version")
	m.Loss = d.F64("loss")
	m.Count = d.Int("count")
	m.Grads = d.f32s("grads")
	m.Stats = d.f32s("stats")
	m.LayoutHash = d.U64("layout_hash")
	m.Lineage = d.U64("lineage")
}
