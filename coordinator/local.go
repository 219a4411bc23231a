package coordinator

import (
	"context"
	"fmt"
	"time"

	"github.com/fsl-project/fsl/episodes"
	"github.com/fsl-project/fsl/params"
)

// ComputeFunc computes one shard's batch at parameters p and model state
// st; model.Model.Grad is one. The driver's workers do this over NATS;
// RunLocal calls it directly.
type ComputeFunc func(p, st params.Vector, b *params.Batch) (params.Result, error)

// RunLocal trains spec in this goroutine without NATS or a store: for every
// step, each shard's batch in shard order through compute, then the same
// Trainer.Apply the driver uses, from the parameters the job's pipeline
// depth names (Trainer.ParamsFor). It is the single-process baseline that the
// distributed run must match bit for bit and approach in speed. onStep,
// when set, follows every step. A cancelled ctx stops it between steps.
// spec must be complete (see JobSpec.WithDefaults).
func RunLocal(ctx context.Context, spec JobSpec, ds *episodes.Dataset, compute ComputeFunc, onStep func(Progress)) (*Trainer, error) {
	tr, err := NewTrainer(spec)
	if err != nil {
		return nil, err
	}
	sampler, err := episodes.NewSampler(ds, spec.SamplerConfig())
	if err != nil {
		return nil, fmt.Errorf("job %q: %w", spec.ID, err)
	}
	start := time.Now()
	results := make([]params.Result, spec.Shards)
	for tr.Version < spec.Steps {
		if err := ctx.Err(); err != nil {
			return tr, err
		}
		// A pipelined job's step computes from an earlier version (the
		// state is not read by a training step's gradients).
		p, version, err := tr.ParamsFor(tr.Version)
		if err != nil {
			return tr, err
		}
		for i := range results {
			b := sampler.Batch(spec.Seed, tr.Version, i)
			r, err := compute(p, tr.State, b)
			if err != nil {
				return tr, fmt.Errorf("job %q step %d shard %d: %w", spec.ID, tr.Version, i, err)
			}
			r.Shard, r.Step, r.Version = i, tr.Version, version
			results[i] = r
		}
		if err := tr.Apply(results); err != nil {
			return tr, err
		}
		if onStep != nil {
			onStep(Progress{Step: tr.Version, Steps: spec.Steps, Loss: tr.LastLoss, Images: tr.Version * spec.ImagesPerStep(),
				Elapsed: time.Since(start), Workers: 1})
		}
	}
	return tr, nil
}
