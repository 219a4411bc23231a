package eval

import (
	"fmt"

	"github.com/fsl-project/fsl/model"
	"github.com/fsl-project/fsl/params"
)

// NewNet pairs m with a checkpoint's parameters p and batch-norm state,
// stored under layout (the job record's; empty when the record has none).
// It refuses vectors that do not fit m: another layout, or lengths other
// than m's, which would mean the spec that built m is not the one the
// parameters were trained under.
func NewNet(m *model.Model, layout params.Layout, p, state params.Vector) (Net, error) {
	if len(layout.Entries) > 0 && !layout.Equal(m.Layout()) {
		return Net{}, fmt.Errorf("the network has %d parameters laid out otherwise than the %d stored ones (%s): the spec and the parameters disagree",
			m.NumParams(), layout.Size(), layout.String())
	}
	if len(p) != m.NumParams() {
		return Net{}, fmt.Errorf("the network has %d parameters, the checkpoint %d", m.NumParams(), len(p))
	}
	if n := m.StateLayout().Size(); len(state) != n {
		return Net{}, fmt.Errorf("the network keeps %d batch-norm statistics, the checkpoint %d", n, len(state))
	}
	return Net{Model: m, Params: p, State: state}, nil
}
