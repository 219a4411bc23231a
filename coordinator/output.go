package coordinator

import "github.com/fsl-project/fsl/params"

// Output is work the machine asks its driver to do, drained in order by
// Machine.Ready: a StepComplete, a CheckpointDue or a JobDone. The set is closed; switch on the concrete type.
type Output interface {
	output()
}

// StepComplete hands over the results of a finished step: exactly one per
// shard, Results[i].Shard == i, each the first valid result for its shard.
// The driver aggregates them in this order, runs the optimizer to produce
// version Version+1, and calls Machine.Advance(Version+1). Until then work
// requests get Wait. The slice is the driver's; the machine keeps no
// reference to it.
type StepComplete struct {
	Step    int
	Version int
	Results []params.Result
}

// CheckpointDue asks the driver to write a checkpoint of the parameters of
// Version. Step is the step a run resumed from this checkpoint starts at,
// which is always Version: pass it to New to resume. Due after every
// Config.CheckpointEvery steps and after the last step.
type CheckpointDue struct {
	Step    int
	Version int
}

// JobDone reports that all Config.TotalSteps steps are applied and Version
// is final. Work requests get Done from now on.
type JobDone struct {
	Version int
}

func (StepComplete) output()  {}
func (CheckpointDue) output() {}
func (JobDone) output()       {}
