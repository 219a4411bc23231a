package machine

import "errors"

// Sentinel errors callers branch on with errors.Is. Errors returned by this
// package wrap them with the field, worker, step or version at fault.
var (
	// ErrInvalidConfig reports a Config field out of range or a resume step
	// outside [0, TotalSteps].
	ErrInvalidConfig = errors.New("invalid coordinator config")
	// ErrNoWorkerID reports an event that names no worker.
	ErrNoWorkerID = errors.New("empty worker ID")
	// ErrInvalidResult is wrapped by Verdict.Err for a result that failed
	// validation; the Verdict's Reason says which check.
	ErrInvalidResult = errors.New("invalid result")
	// ErrDuplicate is wrapped by Verdict.Err for a valid result of a shard
	// whose result was already accepted.
	ErrDuplicate = errors.New("duplicate result")
	// ErrStepIncomplete reports Advance called before every shard of the
	// current step was in.
	ErrStepIncomplete = errors.New("step incomplete")
	// ErrAdvanceVersion reports Advance called with a version other than
	// the current step plus one.
	ErrAdvanceVersion = errors.New("wrong version to advance to")
	// ErrJobDone reports Advance called after the last step.
	ErrJobDone = errors.New("job done")
	// ErrBanned reports a join of a worker banned for the job.
	ErrBanned = errors.New("worker banned for the job")
)
