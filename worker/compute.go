package worker

import (
	"fmt"

	"github.com/fsl-project/fsl/model"
	"github.com/fsl-project/fsl/params"
	"github.com/fsl-project/fsl/wire"
)

// ModelBatch views a wire batch as the model's input, without copying.
func ModelBatch(b *params.Batch) *model.Batch {
	return &model.Batch{
		Kind:   model.Kind(b.Kind),
		Size:   b.Size,
		Pixels: b.Pixels,
		Labels: b.Labels,
		Way:    b.Way,
		Shot:   b.Shot,
		Query:  b.Query,
		Same:   b.Same,
	}
}

// Compute runs one lease's batch through m at parameters p and model state
// st, and returns the result to send for it; the caller names the worker
// and the layout (checked against the coordinator's at join).
func Compute(m *model.Model, p, st params.Vector, l *wire.Lease) (*wire.Result, error) {
	r, err := m.Grad(p, st, ModelBatch(&l.Batch))
	if err != nil {
		return nil, fmt.Errorf("compute step %d shard %d: %w", l.Step, l.Shard, err)
	}
	return &wire.Result{Result: params.Result{
		Step:    int(l.Step),
		Shard:   l.Shard,
		Version: int(l.Version),
		Loss:    r.Loss,
		Count:   r.Count,
		Grads:   r.Grads,
		Stats:   r.Stats,
	}}, nil
}
