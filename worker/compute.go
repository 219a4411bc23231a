package worker

import (
	"fmt"

	"github.com/fsl-project/fsl/model"
	"github.com/fsl-project/fsl/params"
	"github.com/fsl-project/fsl/wire"
)

// Compute runs one lease's batch through m at parameters p and model state
// st, and returns the result to send for it, addressed to the lease; the
// caller names the worker and the layout (checked against the
// coordinator's at join).
func Compute(m *model.Model, p, st params.Vector, l *wire.Lease) (*wire.Result, error) {
	var r params.Result
	var err error
	if l.Batch.Kind == params.KindEmbed {
		if c, want := l.Batch.Planes(), m.Config().InputChannels(); c != want {
			return nil, fmt.Errorf("compute step %d shard %d: images of %d channels, the model takes %d: %w", l.Step, l.Shard, c, want, model.ErrBatch)
		}
		// A shard of an evaluation: the images' embeddings (batch norm
		// in evaluation mode), as eval.Episodes computes them.
		r.Grads, err = m.Embed(p, st, l.Batch.Pixels, l.Batch.Images())
		r.Count = l.Batch.Images()
	} else {
		r, err = m.Grad(p, st, &l.Batch)
	}
	if err != nil {
		return nil, fmt.Errorf("compute step %d shard %d: %w", l.Step, l.Shard, err)
	}
	r.Step, r.Shard, r.Version, r.Lineage = int(l.Step), l.Shard, int(l.Version), l.Lineage
	return &wire.Result{Result: r}, nil
}
