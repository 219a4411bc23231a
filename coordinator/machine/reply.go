package machine

import "time"

// Reply answers a work request: a Lease, a Wait, a Done or a BannedReply. The
// set is closed; switch on the concrete type.
type Reply interface {
	reply()
}

// Lease gives a worker one shard of the current step to compute from
// parameters of Version (always equal to Step).
type Lease struct {
	Step    int
	Shard   int
	Version int
	// Lineage is Machine.Lineage: the parameters are those of (Lineage,
	// Version), and the result must echo both.
	Lineage uint64
	// Deadline is when the lease expires: if no valid result for the shard
	// has arrived by then, the shard goes back to pending. A result that
	// arrives later is still accepted if it is the shard's first.
	Deadline time.Time
	// Attempt counts the leases of this shard in this step, from 1.
	Attempt int
	// Backup marks a copy of a shard that another worker also holds,
	// granted near the end of a step to hedge against a slow worker.
	Backup bool
}

// Wait tells an idle worker there is nothing to do now and to ask again
// after RetryAfter: every shard is leased or done, or the step is complete
// and the next parameters are being computed.
type Wait struct {
	RetryAfter time.Duration
}

// Done tells a worker the job has finished all its steps.
type Done struct{}

// BannedReply tells a banned worker that the job takes no more work from it
// (see verify.go).
type BannedReply struct{}

func (Lease) reply()       {}
func (Wait) reply()        {}
func (Done) reply()        {}
func (BannedReply) reply() {}
