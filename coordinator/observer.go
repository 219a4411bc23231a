package coordinator

import "time"

// StepFunc is an Observer told of steps only (a progress line).
type StepFunc func(Progress)

// StepApplied calls f.
func (f StepFunc) StepApplied(p Progress) { f(p) }

// Checkpointed does nothing.
func (StepFunc) Checkpointed(int, time.Duration) {}

// Validated does nothing.
func (StepFunc) Validated(int, map[string]float64) {}

// Observers tells each of its observers of every event, in order.
type Observers []Observer

// StepApplied implements Observer.
func (os Observers) StepApplied(p Progress) {
	for _, o := range os {
		o.StepApplied(p)
	}
}

// Checkpointed implements Observer.
func (os Observers) Checkpointed(step int, took time.Duration) {
	for _, o := range os {
		o.Checkpointed(step, took)
	}
}

// Validated implements Observer.
func (os Observers) Validated(step int, metrics map[string]float64) {
	for _, o := range os {
		o.Validated(step, metrics)
	}
}
