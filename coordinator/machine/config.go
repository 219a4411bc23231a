package machine

import (
	"errors"
	"fmt"
	"time"
)

// The values the driver gives the machine, and (the timeouts) DefaultSpec's.
const (
	DefaultLeaseTimeout     = 30 * time.Second
	DefaultHeartbeatTimeout = 10 * time.Second
	DefaultRetryAfter       = 200 * time.Millisecond
	// DefaultBackupWhenRemaining: backups of the last outstanding shard of
	// a step.
	DefaultBackupWhenRemaining = 1
	DefaultMaxBackupsPerShard  = 1
	DefaultBackupSlowFactor    = 1.5
	// DefaultMaxLeasesPerWorker: an honest worker holds the shard it
	// computes, plus at most one it lost track of (a lease whose reply it
	// never got, a shard it dropped) until that one expires.
	DefaultMaxLeasesPerWorker = 2
	// DefaultQuarantineAfter: two leases in a row expired without a result.
	DefaultQuarantineAfter = 2
	// DefaultQuarantineFactor and DefaultQuarantineMaxFactor give the first
	// and the longest back-off in lease timeouts (the driver multiplies).
	DefaultQuarantineFactor    = 1
	DefaultQuarantineMaxFactor = 32
)

// MaxShardsPerStep bounds Config.ShardsPerStep: the machine keeps per-shard
// state and every step's results in memory.
const MaxShardsPerStep = 1 << 16

// Config describes one job to the machine. Every field is concrete: New
// fills in nothing (the driver, which makes the Config, gives it the
// Default values above).
type Config struct {
	// Job identifies the job; a result naming another job is invalid.
	// Required.
	Job string
	// ShardsPerStep is S, the number of shards each step is cut into, from
	// 1 to MaxShardsPerStep.
	ShardsPerStep int
	// TotalSteps is the number of steps of the job, at least 1. The job is
	// done when the parameter version reaches TotalSteps.
	TotalSteps int

	// LeaseTimeout is how long a worker may hold a shard before the shard
	// goes back to pending; positive.
	LeaseTimeout time.Duration
	// HeartbeatTimeout is how long a worker may stay silent (no join,
	// heartbeat, work request or result) before it is declared lost and its
	// leases go back at once; positive.
	HeartbeatTimeout time.Duration
	// RetryAfter is the delay a Wait reply suggests to an idle worker;
	// positive.
	RetryAfter time.Duration

	// BackupWhenRemaining enables backup leases near the end of a step:
	// once no shard is pending and at most this many shards are still
	// outstanding, an idle worker asking for work gets a copy of the
	// outstanding shard leased longest ago. With backups on, a worker that
	// has had a result accepted may also get, at any time, a copy of a
	// lease held only by workers that have not (or whose leases expired
	// since): see RequestWork. Zero disables backups.
	BackupWhenRemaining int
	// MaxBackupsPerShard caps the live backup leases of one shard; at least
	// 1 when BackupWhenRemaining is.
	MaxBackupsPerShard int
	// BackupSlowFactor is how many mean shard times (lease to accepted
	// result) a lease must have been out before a backup of it is granted;
	// positive when BackupWhenRemaining is. Until a shard time is known any
	// lease qualifies.
	BackupSlowFactor float64

	// MaxLeasesPerWorker caps the live leases (backups included) one worker
	// holds at once; a worker at the cap is answered Wait. Zero: no cap.
	MaxLeasesPerWorker int

	// QuarantineAfter is how many of a worker's leases in a row may expire
	// without a valid result from it in between before its work requests
	// are answered Wait for a back-off; an accepted result from it clears
	// the count and ends the back-off. Zero disables quarantine. The count
	// lives as long as the machine knows the worker (a Leave or a loss
	// forgets it), and worker IDs are the clients' own: the cap and the
	// quarantine bound what one ID can hold, not what one token can.
	QuarantineAfter int
	// QuarantineFor is the first back-off; each further expiry before a
	// valid result doubles it, up to QuarantineMax. Both positive when
	// QuarantineAfter is.
	QuarantineFor time.Duration
	QuarantineMax time.Duration

	// CheckpointEvery asks for a checkpoint after every this many steps.
	// A checkpoint is always due after the last step; zero asks for that one
	// only.
	CheckpointEvery int

	// GradLen is the required length of every result's Grads, at least 1.
	GradLen int
	// ShardGradLen, when set (one entry per shard), replaces GradLen shard
	// by shard: an evaluation's shards return embeddings of their images,
	// and the last shard may hold fewer.
	ShardGradLen []int
	// StateLen is the required length of every result's Stats (running
	// statistics such as batch-norm means); zero means results carry none.
	StateLen int
	// LayoutHash is the params.Layout.Hash of the model; a result computed
	// under another layout is invalid.
	LayoutHash uint64

	// Verify is the fraction of each step's shards, from 0 to 1, computed
	// by two different workers whose bits must agree (see verify.go); 0
	// turns verification off. A verified shard needs two workers, and
	// settling a disagreement a third.
	Verify float64
	// VerifyKey keys the choice of verified shards; the driver draws it at
	// random so workers cannot predict it.
	VerifyKey uint64
	// Lineage is the lineage the machine starts at: the job's rollbacks so
	// far (see Machine.Lineage).
	Lineage uint64
	// Pipeline is the pipeline depth k, 0 to MaxPipeline (JobSpec.Pipeline):
	// step s's shards are computed at parameter version LagVersion(s, k),
	// so the k steps after the current one are open too (leased, their
	// results kept) while it is collected and applied. Steps still
	// complete, in order, one StepComplete each.
	Pipeline int
}

// validate reports every field out of range, each error wrapping
// ErrInvalidConfig and naming the field.
func (c Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	if c.Job == "" {
		bad("Job is empty")
	}
	if c.ShardsPerStep < 1 || c.ShardsPerStep > MaxShardsPerStep {
		bad("ShardsPerStep is %d, want 1 to %d", c.ShardsPerStep, MaxShardsPerStep)
	}
	if c.TotalSteps < 1 {
		bad("TotalSteps is %d, want at least 1", c.TotalSteps)
	}
	if c.LeaseTimeout <= 0 {
		bad("LeaseTimeout is %v, want positive (e.g. %v)", c.LeaseTimeout, DefaultLeaseTimeout)
	}
	if c.HeartbeatTimeout <= 0 {
		bad("HeartbeatTimeout is %v, want positive (e.g. %v)", c.HeartbeatTimeout, DefaultHeartbeatTimeout)
	}
	if c.RetryAfter <= 0 {
		bad("RetryAfter is %v, want positive (e.g. %v)", c.RetryAfter, DefaultRetryAfter)
	}
	if c.BackupWhenRemaining < 0 {
		bad("BackupWhenRemaining is %d, want 0 (off) or more", c.BackupWhenRemaining)
	}
	if c.MaxBackupsPerShard < 0 || (c.BackupWhenRemaining > 0 && c.MaxBackupsPerShard < 1) {
		bad("MaxBackupsPerShard is %d, want 1 or more with backups on (e.g. %d)", c.MaxBackupsPerShard, DefaultMaxBackupsPerShard)
	}
	if !(c.BackupSlowFactor >= 0) || (c.BackupWhenRemaining > 0 && !(c.BackupSlowFactor > 0)) {
		bad("BackupSlowFactor is %v, want positive with backups on (e.g. %v)", c.BackupSlowFactor, DefaultBackupSlowFactor)
	}
	if c.MaxLeasesPerWorker < 0 {
		bad("MaxLeasesPerWorker is %d, want 0 (no cap) or more (e.g. %d)", c.MaxLeasesPerWorker, DefaultMaxLeasesPerWorker)
	}
	if c.QuarantineAfter < 0 {
		bad("QuarantineAfter is %d, want 0 (off) or more (e.g. %d)", c.QuarantineAfter, DefaultQuarantineAfter)
	}
	if c.QuarantineAfter > 0 && (c.QuarantineFor <= 0 || c.QuarantineMax < c.QuarantineFor) {
		bad("QuarantineFor %v and QuarantineMax %v, want 0 < QuarantineFor <= QuarantineMax with quarantine on", c.QuarantineFor, c.QuarantineMax)
	}
	if c.CheckpointEvery < 0 {
		bad("CheckpointEvery is %d, want 0 (last step only) or more", c.CheckpointEvery)
	}
	if c.GradLen < 1 {
		bad("GradLen is %d, want at least 1", c.GradLen)
	}
	if c.ShardGradLen != nil && len(c.ShardGradLen) != c.ShardsPerStep {
		bad("ShardGradLen has %d entries, want one per shard (%d)", len(c.ShardGradLen), c.ShardsPerStep)
	}
	for i, n := range c.ShardGradLen {
		if n < 1 {
			bad("ShardGradLen[%d] is %d, want at least 1", i, n)
			break
		}
	}
	if !(c.Verify >= 0 && c.Verify <= 1) {
		bad("Verify is %v, want 0 (off) to 1", c.Verify)
	}
	if c.StateLen < 0 {
		bad("StateLen is %d, want 0 or more", c.StateLen)
	}
	if c.Pipeline < 0 || c.Pipeline > MaxPipeline {
		bad("Pipeline is %d, want 0 (off) to %d", c.Pipeline, MaxPipeline)
	}
	return errors.Join(errs...)
}
