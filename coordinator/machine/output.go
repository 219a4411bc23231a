package machine

import "github.com/fsl-project/fsl/params"

// Output is work the machine asks its driver to do, drained in order by
// Machine.Ready: a StepComplete, a CheckpointDue, a JobDone, a Banned or a
// Rollback. The set is closed; switch on the concrete type.
type Output interface {
	output()
}

// StepComplete hands over the results of a finished step: exactly one per
// shard, Results[i].Shard == i, each the first valid result for its shard,
// computed at parameters of Version (Step, or LagVersion(Step, k) with a
// pipeline). The driver aggregates them in this order, runs the optimizer
// to produce version Step+1, and calls Machine.Advance(Step+1). Until then
// work requests get Wait (with a pipeline: shards of the steps ahead, while
// any are left). The slice is the driver's; the machine keeps no
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

// JobDone reports that all Config.TotalSteps steps are applied, or that
// Machine.Stop ended the job early, and Version is final. Work requests get
// Done from now on.
type JobDone struct {
	Version int
}

// Banned reports that Worker was banned for the job (see verify.go): a copy
// of it for shard Shard of step Step differed from the bits two other
// workers agreed on. The driver records the ban, so that a restarted
// machine keeps it (RestoreTrust), and says so in the log.
type Banned struct {
	Worker      string
	Step, Shard int
}

// Rollback asks the driver to discard the parameters computed from step
// Step on: Worker, now banned, had a result taken unchecked at Step (the
// earliest of the workers banned by one event). The driver restores the
// newest checkpoint at or before Step (the initial parameters when there is
// none), deletes the checkpoints after it, and calls Machine.Rewind with its
// step; the outputs drained with this one that follow it are void.
type Rollback struct {
	Step   int
	Worker string
}

func (StepComplete) output()  {}
func (CheckpointDue) output() {}
func (JobDone) output()       {}
func (Banned) output()        {}
func (Rollback) output()      {}
