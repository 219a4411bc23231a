package coordinator

import (
	"fmt"
	"strings"

	"github.com/fsl-project/fsl/checkpoints"
	"github.com/fsl-project/fsl/coordinator/machine"
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
	// lagged holds the parameters of the spec.Pipeline versions before
	// Version, oldest first (fewer in the first steps): a pipelined step
	// computes its gradients from one of them (ParamsFor).
	lagged []params.Vector
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

// ParamsFor returns the parameters step's gradients are computed from
// (version LagVersion(step, spec.Pipeline)), for a step from Version to
// Version+spec.Pipeline: the steps a pipelined job computes at once.
// Callers must not change them.
func (t *Trainer) ParamsFor(step int) (params.Vector, int, error) {
	v := machine.LagVersion(step, t.spec.Pipeline)
	if p, ok := t.ParamsAt(v); ok {
		return p, v, nil
	}
	return nil, v, fmt.Errorf("job %q: parameters of version %d for step %d: the trainer holds versions %d to %d",
		t.spec.ID, v, step, t.Version-len(t.lagged), t.Version)
}

// ParamsAt returns the parameters of version v when the trainer holds
// them: the current version, or with a pipeline one of the spec.Pipeline
// before it. Callers must not change them.
func (t *Trainer) ParamsAt(v int) (params.Vector, bool) {
	switch {
	case v == t.Version:
		return t.Params, true
	case v < t.Version && t.Version-v <= len(t.lagged):
		return t.lagged[len(t.lagged)-(t.Version-v)], true
	}
	return nil, false
}

// lagName names the checkpoint vector that carries the parameters of
// version v for a pipelined job: they ride with the optimizer's vectors,
// as state of the update rule (a delayed gradient) that the next steps
// need, under a prefix no optimizer uses.
func lagName(v int) string { return fmt.Sprintf("%s%d", lagPrefix, v) }

const lagPrefix = "pipeline.params@"

// Restore continues from a checkpoint: parameters, state, optimizer state
// and version, and for a pipelined job the parameter versions before it.
func (t *Trainer) Restore(c *checkpoints.Checkpoint) error {
	if len(c.Params) != t.layout.Size() || len(c.State) != t.state.Size() {
		return fmt.Errorf("restore job %q from step %d: checkpoint has %d parameters and %d state values, the model %d and %d",
			t.spec.ID, c.Step, len(c.Params), len(c.State), t.layout.Size(), t.state.Size())
	}
	var vs []params.Vector
	lagged := make(map[string]params.Vector)
	for _, nv := range c.Optimizer.Vectors {
		if strings.HasPrefix(nv.Name, lagPrefix) {
			lagged[nv.Name] = nv.Values
			continue
		}
		vs = append(vs, nv.Values)
	}
	step := int(c.Step)
	var lag []params.Vector
	for v := machine.LagVersion(step, t.spec.Pipeline); v < step; v++ {
		p, ok := lagged[lagName(v)]
		if !ok || len(p) != t.layout.Size() {
			return fmt.Errorf("restore job %q from step %d: pipeline %d needs the parameters of version %d, which the checkpoint does not hold (was it written with another pipeline depth?)",
				t.spec.ID, c.Step, t.spec.Pipeline, v)
		}
		lag = append(lag, p.Clone())
	}
	if len(lagged) != len(lag) {
		return fmt.Errorf("restore job %q from step %d: the checkpoint holds %d earlier parameter versions, pipeline %d needs %d",
			t.spec.ID, c.Step, len(lagged), t.spec.Pipeline, len(lag))
	}
	if err := t.opt.SetState(vs); err != nil {
		return fmt.Errorf("restore job %q from step %d: optimizer: %w", t.spec.ID, c.Step, err)
	}
	t.Params, t.State = c.Params.Clone(), c.State.Clone()
	t.lagged = lag
	t.Version = step
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
	for i, p := range t.lagged {
		v := t.Version - len(t.lagged) + i
		nv = append(nv, checkpoints.NamedVector{Name: lagName(v), Values: p.Clone()})
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
	if t.spec.Pipeline > 0 {
		// The old version is kept as is (Step wrote into a clone).
		t.lagged = append(t.lagged, t.Params)
		if len(t.lagged) > t.spec.Pipeline {
			t.lagged = append(t.lagged[:0], t.lagged[1:]...)
		}
	}
	t.Params, t.State = next, st
	t.LastLoss = t.lossSum / float64(t.lossCount)
	t.Version++
	t.resetSums()
	return nil
}
