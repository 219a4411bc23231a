package model

import (
	"fmt"
	"math"

	"github.com/fsl-project/fsl/params"
)

// MergeRunning updates running batch-norm statistics in place:
// state = (1−momentum)·state + momentum·merged, element by element, where
// merged is the Count-weighted mean, in shard order, of the step's shards'
// Result.Stats (the params aggregator computes it). momentum must be in
// (0, 1]; DefaultMomentum is 0.1. Both vectors use StateLayout. On error
// state is unchanged.
func MergeRunning(state, merged params.Vector, momentum float32) error {
	if !(momentum > 0 && momentum <= 1) {
		return fmt.Errorf("merge running statistics: momentum %v, want (0, 1]: %w", momentum, ErrParams)
	}
	if len(state) != len(merged) {
		return fmt.Errorf("merge running statistics: state has %d values, merged %d: %w", len(state), len(merged), ErrParams)
	}
	for i, x := range merged {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("merge running statistics: merged[%d] is %v: %w", i, x, ErrParams)
		}
	}
	for i, x := range merged {
		state[i] = (1-momentum)*state[i] + momentum*x
	}
	return nil
}
