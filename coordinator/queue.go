package coordinator

import (
	"cmp"
	"slices"
	"time"
)

// JobState is where a job of a serving coordinator's queue stands.
type JobState string

// The states of a queued job. Queued and paused jobs wait; at most
// ServerConfig.MaxRunning jobs run at once; done, cancelled and failed are
// final.
const (
	StateQueued    JobState = "queued"
	StateRunning   JobState = "running"
	StatePaused    JobState = "paused"
	StateDone      JobState = "done"
	StateCancelled JobState = "cancelled"
	StateFailed    JobState = "failed"
)

// Final reports whether the job will not run again.
func (s JobState) Final() bool { return s == StateDone || s == StateCancelled || s == StateFailed }

// QueuedJob is one job of a serving coordinator's queue, as the store
// keeps it (checkpoints.Store.PutQueueEntry, in JSON) and `fsl-coord jobs`
// shows it.
type QueuedJob struct {
	ID string `json:"id"`
	// Name is the sweep the job came from (submit --name), "" for none.
	Name string `json:"name,omitempty"`
	// Params are the sweep's values of this job ("optimizer.lr": "1e-3",
	// "seed": "2").
	Params map[string]string `json:"params,omitempty"`
	// Seq orders submissions: first in, first out within a priority.
	Seq      uint64 `json:"seq"`
	Priority int    `json:"priority"`
	// Weight is the job's share within its priority (default 1).
	Weight float64 `json:"weight"`
	// MaxWorkers caps the workers assigned to the job at once (0: no cap
	// beyond its shards per step).
	MaxWorkers int      `json:"max_workers,omitempty"`
	State      JobState `json:"state"`
	// Spec is the job, complete (JobSpec.WithDefaults).
	Spec      JobSpec   `json:"spec"`
	Submitted time.Time `json:"submitted"`
	Started   time.Time `json:"started,omitzero"`
	Ended     time.Time `json:"ended,omitzero"`
	// Error says why a failed job failed.
	Error string `json:"error,omitempty"`
	// Outcome is how the job ended (done jobs only).
	Outcome *JobOutcome `json:"outcome,omitempty"`
}

// JobOutcome is a finished job's final figures: its training summary and the
// metrics of its evaluation (eval_acc and eval_ci95 per protocol).
type JobOutcome struct {
	Version      int                `json:"version"`
	Loss         float64            `json:"loss"`
	ParamsSHA256 string             `json:"params_sha256"`
	StoppedEarly bool               `json:"stopped_early,omitempty"`
	Metrics      map[string]float64 `json:"metrics,omitempty"`
}

// candidate is a running job as the scheduler weighs it for a worker.
type candidate struct {
	id       string
	priority int
	weight   float64
	// limit is how many workers the job can use at once: its shards per
	// step, or MaxWorkers when lower.
	limit    int
	assigned int    // workers assigned to it now
	applied  int    // shards applied since it started in this process
	seq      uint64 // submission order, the last tie-break
}

// pick chooses the job a free worker goes to: among jobs with room
// (assigned < limit), the highest priority; within it the job with the
// fewest workers per unit of weight, then the fewest applied shards per
// unit of weight (so the worker left over when workers do not divide
// evenly rotates between jobs, and each gets its weight's share over
// time), then the earliest submitted. ok is false when no job has room.
func pick(cs []candidate) (id string, ok bool) {
	best := -1
	for i, c := range cs {
		if c.assigned >= c.limit {
			continue
		}
		if best < 0 || better(c, cs[best]) {
			best = i
		}
	}
	if best < 0 {
		return "", false
	}
	return cs[best].id, true
}

func better(a, b candidate) bool {
	if a.priority != b.priority {
		return a.priority > b.priority
	}
	if c := cmp.Compare(float64(a.assigned)/a.weight, float64(b.assigned)/b.weight); c != 0 {
		return c < 0
	}
	if c := cmp.Compare(float64(a.applied)/a.weight, float64(b.applied)/b.weight); c != 0 {
		return c < 0
	}
	return a.seq < b.seq
}

// admit returns the queued jobs to start when running jobs run: the
// highest priority first, first in first out within a priority, up to
// maxRunning in all.
func admit(queued []*QueuedJob, running, maxRunning int) []*QueuedJob {
	if running >= maxRunning || len(queued) == 0 {
		return nil
	}
	q := slices.Clone(queued)
	slices.SortFunc(q, func(a, b *QueuedJob) int {
		if a.Priority != b.Priority {
			return cmp.Compare(b.Priority, a.Priority)
		}
		return cmp.Compare(a.Seq, b.Seq)
	})
	return q[:min(len(q), maxRunning-running)]
}
