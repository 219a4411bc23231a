package wire

import "github.com/fsl-project/fsl/params"

// ParamsRequest asks the coordinator for a parameter version on
// Subjects.Params. The reply is a Params (chunked), or an Error with
// CodeStaleVersion when that version is gone, which Request returns as an
// error wrapping ErrStaleVersion.
type ParamsRequest struct {
	Version uint64
	// Lineage is the lease's (see Lease.Lineage).
	Lineage uint64
}

// Type implements Message.
func (*ParamsRequest) Type() Type { return TypeParamsRequest }

func (m *ParamsRequest) sizeHint() int { return 16 }

func (m *ParamsRequest) encode(e *encoder) {
	e.U64(m.Version)
	e.U64(m.Lineage)
}

func (m *ParamsRequest) decode(d *decoder) {
	m.Version = d.U64("version")
	m.Lineage = d.U64("lineage")
}

// Params is one parameter version: the values and the non-trainable state
// (e.g. batch-norm running statistics) the model needs.
type Params struct {
	Version    uint64
	Lineage    uint64 // see Lease.Lineage
	LayoutHash uint64
	Params     params.Vector
	State      params.Vector
}

// Type implements Message.
func (*Params) Type() Type { return TypeParams }

func (m *Params) sizeHint() int { return 32 + 4*len(m.Params) + 4*len(m.State) }

func (m *Params) encode(e *encoder) {
	e.U64(m.Version)
	e.U64(m.Lineage)
	e.U64(m.LayoutHash)
	e.f32s("params", m.Params)
	e.f32s("state", m.State)
}

func (m *Params) decode(d *decoder) {
	m.Version = d.U64("version")
	m.Lineage = d.U64("lineage")
	m.LayoutHash = d.U64("layout_hash")
	m.Params = d.f32s("params")
	m.State = d.f32s("state")
}
