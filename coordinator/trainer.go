package coordinator

import (
	"fmt"

	"github.com/fsl-project/fsl/checkpoints"
	"github.com/fsl-project/fsl/model"
	"github.com/fsl-project/fsl/params"
)

// Trainer holds a job's parameters, model state and optimizer, and turns one
// step's shard results into the next version. It does no I/O and reads no
// clock, so the driver and a single-process run (RunLocal) apply steps with
// the very same code, and so with the very same bits.
type Trainer struct {
	spec    JobSpec
	layout  params.Layout
	state   params.Layout
	opt     params.Optimizer
	grads   *params.Aggregator
	stats   *params.Aggregator
	Params  params.Vector
	State   params.Vector
	Version int
	// LastLoss is the count-weighted mean loss of the last applied step.
	LastLoss float64

	// The step being summed: shards added so far (in shard order, by Add
	// or Apply) and their count-weighted loss.
	added     int
	lossSum   float64
	lossCount int
}

// NewTrainer lays out the spec's model and initialises it from the spec's
// seed, at version 0. spec must be complete (see JobSpec.WithDefaults).
func NewTrainer(spec JobSpec) (*Trainer, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	m, err := model.New(spec.ModelConfig())
	if err != nil {
		return nil, fmt.Errorf("job %q: %w", spec.ID, err)
	}
	t := &Trainer{spec: spec, layout: m.Layout(), state: m.StateLayout()}
	if t.opt, err = params.NewOptimizer(spec.Optimizer, t.layout); err != nil {
		return nil, fmt.Errorf("job %q: %w", spec.ID, err)
	}
	if t.grads, err = params.NewAggregator(spec.Shards, t.layout.Size()); err != nil {
		return nil, fmt.Errorf("job %q: %w", spec.ID, err)
	}
	if t.stats, err = params.NewAggregator(spec.Shards, t.state.Size()); err != nil {
		return nil, fmt.Errorf("job %q: %w", spec.ID, err)
	}
	t.Params, t.State = m.Init(spec.Seed)
	return t, nil
}

// Layout is the parameter layout; StateLayout the model state's.
func (t *Trainer) Layout() params.Layout      { return t.layout }
func (t *Trainer) StateLayout() params.Layout { return t.state }

// Restore continues from a checkpoint: parameters, state, optimizer state
// and version.
func (t *Trainer) Restore(c *checkpoints.Checkpoint) error {
	if len(c.Params) != t.layout.Size() || len(c.State) != t.state.Size() {
		return fmt.Errorf("restore job %q from step %d: checkpoint has %d parameters and %d state values, the model %d and %d",
			t.spec.ID, c.Step, len(c.Params), len(c.State), t.layout.Size(), t.state.Size())
	}
	vs := make([]params.Vector, len(c.Optimizer.Vectors))
	for i, nv := range c.Optimizer.Vectors {
		vs[i] = nv.Values
	}
	if err := t.opt.SetState(vs); err != nil {
		return fmt.Errorf("restore job %q from step %d: optimizer: %w", t.spec.ID, c.Step, err)
	}
	t.Params, t.State = c.Params.Clone(), c.State.Clone()
	t.Version = int(c.Step)
	t.resetSums()
	t.LastLoss = c.Metrics["loss"]
	return nil
}

// Checkpoint captures the trainer at its version.
func (t *Trainer) Checkpoint(metrics map[string]float64) *checkpoints.Checkpoint {
	st := t.opt.State()
	nv := make([]checkpoints.NamedVector, len(st))
	for i, v := range st {
		nv[i] = checkpoints.NamedVector{Name: fmt.Sprintf("%s.%d", t.spec.Optimizer.Name, i), Values: v}
	}
	return &checkpoints.Checkpoint{
		Step:      uint64(t.Version),
		Params:    t.Params.Clone(),
		State:     t.State.Clone(),
		Optimizer: checkpoints.OptimizerState{Kind: t.spec.Optimizer.Name, Step: uint64(t.Version), Vectors: nv},
		Metrics:   metrics,
	}
}

// Added is the number of shards of step t.Version summed so far: the next
// one Add takes.
func (t *Trainer) Added() int { return t.added }

// Add sums shard t.Added()'s result of step t.Version ahead of Apply, so
// that a coordinator sums each shard as it is accepted rather than all of
// them at the step's end; Apply then sums the rest. The sums are the same
// bits either way: shards are added in shard order, whenever they come.
func (t *Trainer) Add(r params.Result) error {
	if r.Step != t.Version || r.Shard != t.added {
		return fmt.Errorf("add to step %d: result of step %d shard %d, want shard %d", t.Version, r.Step, r.Shard, t.added)
	}
	if err := t.grads.Add(r.Shard, r.Grads, r.Count); err != nil {
		return fmt.Errorf("add to step %d: gradients of shard %d: %w", t.Version, r.Shard, err)
	}
	if err := t.stats.Add(r.Shard, r.Stats, r.Count); err != nil {
		// The gradients are in: drop the step's sums, as Apply would.
		t.resetSums()
		return fmt.Errorf("add to step %d: statistics of shard %d: %w", t.Version, r.Shard, err)
	}
	t.lossSum += r.Loss * float64(r.Count)
	t.lossCount += r.Count
	t.added++
	return nil
}

func (t *Trainer) resetSums() {
	t.grads.Reset()
	t.stats.Reset()
	t.added, t.lossSum, t.lossCount = 0, 0, 0
}

// Apply turns the results of step t.Version, one per shard, into version
// t.Version+1: gradients and batch-norm statistics are averaged weighted by
// count in shard order (never arrival order: the bits must not depend on
// worker timing), the optimizer steps, and the running statistics move
// towards the merged ones. Shards already summed by Add are not summed
// again. On error the parameters, state and version do not change, and
// the step's sums start over.
func (t *Trainer) Apply(results []params.Result) error {
	if err := t.apply(results); err != nil {
		t.resetSums()
		return err
	}
	return nil
}

func (t *Trainer) apply(results []params.Result) error {
	if len(results) != t.spec.Shards {
		return fmt.Errorf("apply step %d: %d results, want %d", t.Version, len(results), t.spec.Shards)
	}
	for i := t.added; i < len(results); i++ {
		r := results[i]
		if r.Shard != i {
			return fmt.Errorf("apply step %d: result %d is for shard %d", t.Version, i, r.Shard)
		}
		if err := t.grads.Add(i, r.Grads, r.Count); err != nil {
			return fmt.Errorf("apply step %d: gradients of shard %d: %w", t.Version, i, err)
		}
		if err := t.stats.Add(i, r.Stats, r.Count); err != nil {
			return fmt.Errorf("apply step %d: statistics of shard %d: %w", t.Version, i, err)
		}
		t.lossSum += r.Loss * float64(r.Count)
		t.lossCount += r.Count
	}
	g, err := t.grads.Mean()
	if err != nil {
		return fmt.Errorf("apply step %d: %w", t.Version, err)
	}
	merged, err := t.stats.Mean()
	if err != nil {
		return fmt.Errorf("apply step %d: %w", t.Version, err)
	}
	next := t.Params.Clone()
	if err := t.opt.Step(next, g, t.Version); err != nil {
		return fmt.Errorf("apply step %d: %w", t.Version, err)
	}
	st := t.State.Clone()
	if err := params.EMA(st, merged, t.spec.BNMomentum); err != nil {
		return fmt.Errorf("apply step %d: running statistics: %w", t.Version, err)
	}
	t.Params, t.State = next, st
	t.LastLoss = t.lossSum / float64(t.lossCount)
	t.Version++
	t.resetSums()
	return nil
}
