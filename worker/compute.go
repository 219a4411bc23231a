package worker

import (
	"fmt"

	"github.com/fsl-project/fsl/model"
	"github.com/fsl-project/fsl/params"
	"github.com/fsl-project/fsl/wire"
)

// Compute runs one lease's batch through m at parameters p and model state
// st, and returns the result to send for it; the caller names the worker
// and the layout (checked against the coordinator's at join).
func Compute(m *model.Model, p, st params.Vector, l *wire.Lease) (*wire.Result, error) {
	// TODO(merge): wire.Lease carries a params.Batch on the wire branch;
	// then pass &l.Batch straight to Grad and drop this conversion.
	b := &params.Batch{
		Kind: params.Kind(l.Batch.Kind), Size: l.Batch.Size, Pixels: l.Batch.Pixels, Labels: l.Batch.Labels,
		Way: l.Batch.Way, Shot: l.Batch.Shot, Query: l.Batch.Query, Same: l.Batch.Same,
	}
	r, err := m.Grad(p, st, b)
	if err != nil {
		return nil, fmt.Errorf("compute step %d shard %d: %w", l.Step, l.Shard, err)
	}
	// TODO(merge): wire.Result becomes params.Result on the wire branch;
	// then fill the address fields of r and return it.
	return &wire.Result{
		Step:    l.Step,
		Shard:   l.Shard,
		Version: l.Version,
		Loss:    r.Loss,
		Count:   r.Count,
		Grads:   r.Grads,
		Stats:   r.Stats,
	}, nil
}
