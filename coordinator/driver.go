package coordinator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/fsl-project/fsl/checkpoints"
	"github.com/fsl-project/fsl/coordinator/machine"
	"github.com/fsl-project/fsl/episodes"
	"github.com/fsl-project/fsl/params"
	"github.com/fsl-project/fsl/wire"
	"github.com/fsl-project/fsl/wire/transport"
)

// DriverConfig connects a job's Machine and Trainer to NATS, the checkpoint
// store and the clock.
type DriverConfig struct {
	// Spec is the job, complete (see JobSpec.WithDefaults).
	Spec JobSpec
	// Dataset is the training split; when nil, Run opens it from the spec.
	Dataset *episodes.Dataset
	// DB is the checkpoint store's path (required).
	DB string
	// Conn is the connection the coordinator serves the job on.
	Conn *transport.Conn
	// Logger receives the job's events (default slog.Default()).
	Logger *slog.Logger
	// Observer, when set, is told of steps, checkpoints and validations
	// (progress lines, metrics, dashboards), from the driver's goroutine; it
	// must not block. StepFunc and Observers adapt and combine them.
	Observer Observer
	// Validate, when set, measures parameters of a version on held-out
	// classes every Spec.EvalEvery steps (and after the last step); its
	// metrics (e.g. "val_acc") go into the checkpoint of that step and pick
	// the best checkpoint. It runs on the driver's goroutine.
	Validate func(version int, p, state params.Vector) (map[string]float64, error)
	// TickEvery is how often leases are checked for expiry (default 100ms).
	TickEvery time.Duration
	// HeartbeatEvery is how often workers are asked to heartbeat (default
	// a third of the spec's heartbeat timeout).
	HeartbeatEvery time.Duration
	// HoldWork is how long a work request that finds nothing to do is held
	// (long polling) before it is answered Wait: an idle worker gets the
	// next step's shard the moment the step advances instead of after a
	// retry delay (default 2s; negative: answer Wait at once).
	HoldWork time.Duration
	// MaxPendingBytes bounds the bytes held for incomplete chunked
	// messages, in total over all the job's subjects: incomplete messages
	// beyond it are evicted, oldest first (default 16 results' worth, at
	// least 32 MiB).
	MaxPendingBytes int
	// EvalWork, when set, ends the job with an evaluation sharded over its
	// workers: once the last step is applied it is called with the final
	// parameters, its shards are leased like a step's (at the final
	// version, params.KindEmbed batches), and what its Finish returns from
	// their results, in shard order, is the Summary's Eval. A coordinator
	// restarted before the evaluation ended runs it again.
	EvalWork func(version int, p, state params.Vector) (EvalWork, error)
	// Linger is how long the coordinator still answers Done to work
	// requests after the job ends, for workers that missed the broadcast
	// (default 1s).
	Linger time.Duration
}

// EvalWork is an evaluation cut into shards for the job's workers
// (eval.Plan, one or more protocols).
type EvalWork interface {
	// Shards is the number of shards.
	Shards() int
	// Batch is shard k's input, a params.KindEmbed batch.
	Batch(k int) *params.Batch
	// Len is the number of values shard k's result holds.
	Len(k int) int
	// Finish turns the shards' results, in shard order, into metrics.
	Finish(results []params.Result) (map[string]float64, error)
}

// Progress is the job's state after a step, for progress lines.
type Progress struct {
	Step, Steps int
	Loss        float64
	// Validation holds the latest validation metrics, nil before the first.
	Validation map[string]float64
	Images     int // images computed on since this process started
	Elapsed    time.Duration
	Workers    int
	Counters   machine.Counters
}

// Summary is how a job run ended.
type Summary struct {
	Job         string `json:"job"`
	Version     int    `json:"version"`
	ResumedFrom int    `json:"resumed_from"` // step the run started at (0 for a new job)
	// StoppedEarly: the job ended before its last step because its
	// patience ran out (JobSpec.Patience); Version is where it stopped.
	StoppedEarly bool    `json:"stopped_early,omitempty"`
	Loss         float64 `json:"loss"`
	ParamsSHA256 string  `json:"params_sha256"`
	// Counters are the machine's, for this process's run; InvalidByReason
	// names Counters.Invalid's reasons.
	Counters        machine.Counters `json:"counters"`
	InvalidByReason map[string]int   `json:"invalid_by_reason"`
	// Dropped counts payloads that failed to decode (bad checksum,
	// malformed, too large) and incomplete chunked messages abandoned, on
	// all the job's subjects.
	Dropped int `json:"dropped_payloads"`
	// ParamsServed counts the parameter versions sent to workers that
	// asked (each worker fetches each version it computes at and does not
	// hold): the coordinator's fan-out, for scaling figures.
	ParamsServed int `json:"params_served"`
	// Eval holds the metrics of the evaluation run on the workers
	// (DriverConfig.EvalWork), nil without one.
	Eval    map[string]float64 `json:"eval,omitempty"`
	Images  int                `json:"images"`
	Elapsed time.Duration      `json:"elapsed_ns"`
}

// event is one whole message from a subscription, handled on the driver's
// goroutine so the machine and trainer need no locks.
type event struct {
	msg   wire.Message
	reply string
}

// Observer receives the job's events for metrics and dashboards.
type Observer interface {
	// StepApplied follows every applied step.
	StepApplied(p Progress)
	// Checkpointed follows every checkpoint written, with how long it took.
	Checkpointed(step int, took time.Duration)
	// Validated follows every validation, with its metrics.
	Validated(step int, metrics map[string]float64)
}

// Driver runs one job: see NewDriver.
type Driver struct {
	cfg     DriverConfig
	spec    JobSpec
	log     *slog.Logger
	m       *machine.Machine
	tr      *Trainer
	sampler *episodes.Sampler
	store   *checkpoints.Store
	subj    wire.Subjects
	events  chan event
	mspec   []byte
	start   time.Time
	end     time.Time // when the last step was applied
	resumed int
	images  int
	done    bool
	results *transport.Subscription
	snap    atomic.Pointer[JobStatus]
	parked  []parkedRequest // work requests held for work to appear
	// parkedGen is the machine's Generation when every held request was
	// last answered Wait, parkedFresh whether that still stands (a tick
	// or a new machine says it may not).
	parkedGen   uint64
	parkedFresh bool
	// params holds the parameter versions workers may ask for, encoded
	// once each however many ask: the current version, and with a
	// pipeline the earlier ones its open steps are computed at.
	params   []encodedParams
	served   int                // parameter versions sent to workers (Summary.ParamsServed)
	lastVal  map[string]float64 // metrics of the last validation
	valStep  int                // the version lastVal measured
	class    checkpoints.Class  // the job's compute class (class.go)
	admitted map[string]string  // canary each admitted worker gave
	logLimit wire.LogLimiter    // bounds the lines a client can trigger: bad payloads, invalid results, refused classes, unexpected messages
	joinLog  wire.LogLimiter    // bounds the "worker joined" lines: a global budget (see joinLogBurst)
	eval     EvalWork           // the evaluation being run on the workers, nil outside it
	// evalParams and evalState are the evaluated checkpoint's, served to
	// the workers during the evaluation; nil when it is the last version.
	evalParams, evalState params.Vector

	evalOut   map[string]float64 // its metrics, once finished
	trained   *machine.Counters  // the training machine's counters, once the evaluation's replaced it
	epoch     uint64             // this process's identity, random per start
	hellos    int                // hellos sent so far (see helloCount)
	nextHello time.Time

	// Verified results (verify.go): the job record's lineage, trusted
	// workers and bans, handed to the machine; the lineage of params.
	lineage       uint64
	trustedIn     map[string]int
	bannedIn      []string
	savedTrust    map[string]int // as last written by saveTrust
	savedBans     int
	lastStep      time.Time // when a step was last applied (or the run began)
	nextShortWarn time.Time

	// Early stopping (JobSpec.Patience): the best val_acc so far and its
	// step; stoppedAt, when the job record says the job stopped early.
	bestVal     float64
	bestValStep int
	haveBest    bool
	stoppedAt   int
}

// A started coordinator says hello helloCount times, helloEvery apart:
// workers of a killed one reconnect to the server over the next second or
// two and must hear it, whenever they come back.
const (
	helloCount = 20
	helloEvery = 200 * time.Millisecond
)

// Run trains the job to its last step and returns how it ended. It resumes
// from the newest valid checkpoint of the job in cfg.DB when there is one.
// When ctx ends first, it writes a checkpoint of the current version (so
// nothing computed is lost) and returns ctx's error.
func Run(ctx context.Context, cfg DriverConfig) (*Summary, error) {
	d, err := NewDriver(cfg)
	if err != nil {
		return nil, err
	}
	return d.Run(ctx)
}

// Run trains the job: see the package-level Run. It closes the checkpoint
// store when it returns; a Driver runs once.
func (d *Driver) Run(ctx context.Context) (*Summary, error) {
	defer d.store.Close()
	return d.run(ctx)
}

// Status is a snapshot of the job, safe to call from any goroutine while
// Run runs (HTTP handlers): refreshed every tick and every step.
func (d *Driver) Status() JobStatus {
	if p := d.snap.Load(); p != nil {
		return *p
	}
	return JobStatus{Job: d.spec.ID, Steps: d.spec.Steps}
}

// Spec is the job's spec.
func (d *Driver) Spec() JobSpec { return d.spec }

func (d *Driver) refresh() {
	st := d.status()
	d.snap.Store(&st)
}

// NewDriver opens the job's dataset and checkpoint store, restores the
// newest valid checkpoint, and returns a driver ready to Run.
func NewDriver(cfg DriverConfig) (*Driver, error) {
	spec := cfg.Spec
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if cfg.Conn == nil {
		return nil, errors.New("coordinator: no NATS connection")
	}
	if cfg.DB == "" {
		return nil, errors.New("coordinator: no checkpoint store path (--db)")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.TickEvery <= 0 {
		cfg.TickEvery = 100 * time.Millisecond
	}
	if cfg.HeartbeatEvery <= 0 {
		cfg.HeartbeatEvery = time.Duration(spec.HeartbeatTimeout) / 3
	}
	if cfg.Linger <= 0 {
		cfg.Linger = time.Second
	}
	if cfg.HoldWork == 0 {
		cfg.HoldWork = 2 * time.Second
	}
	d := &Driver{cfg: cfg, spec: spec, log: cfg.Logger.With("job", spec.ID), events: make(chan event, 1024),
		admitted: map[string]string{}, epoch: rand.Uint64() | 1, joinLog: wire.LogLimiter{Burst: joinLogBurst}}
	var err error
	if d.subj, err = wire.NewSubjects(spec.ID); err != nil {
		return nil, err
	}
	ds := cfg.Dataset
	if ds == nil {
		if ds, err = episodes.Open(spec.Dataset, spec.DatasetOptions()); err != nil {
			return nil, fmt.Errorf("job %q: %w", spec.ID, err)
		}
	}
	if d.sampler, err = episodes.NewSampler(ds, spec.SamplerConfig()); err != nil {
		return nil, fmt.Errorf("job %q: dataset %q: %w", spec.ID, spec.Dataset, err)
	}
	if d.tr, err = NewTrainer(spec); err != nil {
		return nil, err
	}
	if d.mspec, err = EncodeModelConfig(spec.ModelConfig()); err != nil {
		return nil, err
	}
	if d.store, err = checkpoints.Open(cfg.DB, checkpoints.WithReleaseBetweenWrites(), checkpoints.WithLogger(d.log)); err != nil {
		return nil, fmt.Errorf("job %q: %w", spec.ID, err)
	}
	if err := d.resume(ds.Fingerprint()); err != nil {
		d.store.Close()
		return nil, err
	}
	d.m, err = machine.New(d.machineConfig(d.lineage), d.tr.Version)
	if err != nil {
		d.store.Close()
		return nil, err
	}
	d.m.RestoreTrust(d.trustedIn, d.bannedIn)
	if d.stoppedAt > 0 && d.stoppedAt == d.tr.Version {
		d.log.Info("the job stopped early at this step before (patience); start a new job to train further", "step", d.stoppedAt)
		if err := d.m.Stop(); err != nil {
			d.store.Close()
			return nil, err
		}
	}
	return d, nil
}

// machineConfig is the job's state machine's configuration at lineage.
func (d *Driver) machineConfig(lineage uint64) machine.Config {
	return machine.Config{
		Job:                 d.spec.ID,
		ShardsPerStep:       d.spec.Shards,
		TotalSteps:          d.spec.Steps,
		LeaseTimeout:        time.Duration(d.spec.LeaseTimeout),
		HeartbeatTimeout:    time.Duration(d.spec.HeartbeatTimeout),
		RetryAfter:          machine.DefaultRetryAfter,
		BackupWhenRemaining: machine.DefaultBackupWhenRemaining,
		MaxBackupsPerShard:  machine.DefaultMaxBackupsPerShard,
		BackupSlowFactor:    machine.DefaultBackupSlowFactor,
		MaxLeasesPerWorker:  machine.DefaultMaxLeasesPerWorker,
		QuarantineAfter:     machine.DefaultQuarantineAfter,
		QuarantineFor:       machine.DefaultQuarantineFactor * time.Duration(d.spec.LeaseTimeout),
		QuarantineMax:       machine.DefaultQuarantineMaxFactor * time.Duration(d.spec.LeaseTimeout),
		CheckpointEvery:     d.spec.CheckpointEvery,
		GradLen:             d.tr.Layout().Size(),
		StateLen:            d.tr.StateLayout().Size(),
		LayoutHash:          d.tr.Layout().Hash(),
		Verify:              d.spec.Verify,
		VerifyKey:           rand.Uint64(),
		Lineage:             lineage,
		Pipeline:            d.spec.Pipeline,
	}
}

// startEval replaces the finished job's machine by one whose single step is
// the evaluation's shards, at the final version.
func (d *Driver) startEval() error {
	// A validated job is measured at its best checkpoint, the one to use
	// (a patience-stopped job's last step never is), others at their last.
	// Its parameters are then served under a lineage of their own, so that
	// no worker embeds with the last version's it holds.
	version, p, st, lineage := d.tr.Version, d.tr.Params, d.tr.State, d.m.Lineage()
	if d.haveBest && d.bestValStep != version {
		b, err := d.store.Best(d.spec.ID)
		if err != nil {
			return fmt.Errorf("job %q: evaluation: best checkpoint: %w", d.spec.ID, err)
		}
		version, p, st, lineage = int(b.Step), b.Params, b.State, lineage+1
		d.evalParams, d.evalState = p, st
	}
	ew, err := d.cfg.EvalWork(version, p, st)
	if err != nil {
		return fmt.Errorf("job %q: evaluation: %w", d.spec.ID, err)
	}
	n := ew.Shards()
	if n == 0 {
		return fmt.Errorf("job %q: evaluation: no shard", d.spec.ID)
	}
	cfg := d.machineConfig(lineage)
	cfg.ShardsPerStep, cfg.TotalSteps, cfg.CheckpointEvery, cfg.Verify, cfg.StateLen, cfg.Pipeline = n, d.tr.Version+1, 0, 0, 0, 0
	cfg.ShardGradLen = make([]int, n)
	for k := range n {
		cfg.ShardGradLen[k] = ew.Len(k)
	}
	cfg.GradLen = cfg.ShardGradLen[0]
	m, err := machine.New(cfg, d.tr.Version)
	if err != nil {
		return fmt.Errorf("job %q: evaluation: %w", d.spec.ID, err)
	}
	_, banned := d.m.Trust()
	m.RestoreTrust(nil, banned)
	c := d.m.Counters()
	d.m, d.eval, d.trained = m, ew, &c
	d.parkedFresh = false
	d.log.Info("evaluating on the workers", "shards", n, "version", version)
	d.refresh()
	return nil
}

// specKey is the part of a spec that must match to resume a job: all of it
// but the step count, which a user may raise to train longer, and the
// verified fraction, the test split and the patience, which change no
// parameter of a step.
func specKey(s JobSpec) []byte {
	s.Steps = 0
	s.Verify = 0
	s.TestSplit = ""
	s.Patience = 0
	b, _ := json.Marshal(s)
	return b
}

// resume records a new job in the store, or loads the newest valid
// checkpoint of an existing one after checking it is the same job.
func (d *Driver) resume(fingerprint string) error {
	specJSON, format, err := EncodeSpec(d.spec)
	if err != nil {
		return err
	}
	rec, err := d.store.Job(d.spec.ID)
	switch {
	case errors.Is(err, checkpoints.ErrNotFound):
		return d.store.PutJob(checkpoints.JobRecord{
			ID: d.spec.ID, Spec: specJSON, SpecFormat: format, Layout: d.tr.Layout(), Dataset: fingerprint,
			Status: checkpoints.StatusRunning,
		})
	case err != nil:
		return fmt.Errorf("job %q: %w", d.spec.ID, err)
	}
	old, err := DecodeSpec(rec)
	if err != nil {
		return fmt.Errorf("%s: %w", d.cfg.DB, err)
	}
	if err := CheckResume(d.cfg.DB, old, d.spec); err != nil {
		return err
	}
	if rec.Dataset != fingerprint {
		return fmt.Errorf("job %q in %s was trained on dataset %s, this one is %s", d.spec.ID, d.cfg.DB, rec.Dataset, fingerprint)
	}
	d.class = rec.Class
	if step, who := pendingRollback(rec); step >= 0 {
		// Stopped between a ban and its rollback: finish the rollback.
		_, deleted, _, err := d.rollbackStore(step, rec.Lineage+1, rec.Trusted, rec.Banned)
		if err != nil {
			return fmt.Errorf("job %q: finish the rollback past step %d (worker %q banned): %w", d.spec.ID, step, who, err)
		}
		if rec, err = d.store.Job(d.spec.ID); err != nil {
			return fmt.Errorf("job %q: %w", d.spec.ID, err)
		}
		d.log.Warn("finished a rollback the last run began: the steps since the banned worker's first unchecked result are recomputed",
			"worker", who, "first_unchecked_step", step, "checkpoints_deleted", len(deleted), "lineage", rec.Lineage)
	}
	d.lineage, d.trustedIn, d.bannedIn = rec.Lineage, rec.Trusted, rec.Banned
	c, err := d.store.Latest(d.spec.ID)
	if errors.Is(err, checkpoints.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("job %q: %w", d.spec.ID, err)
	}
	if int(c.Step) > d.spec.Steps {
		return fmt.Errorf("job %q in %s is at step %d, past --steps %d", d.spec.ID, d.cfg.DB, c.Step, d.spec.Steps)
	}
	if err := d.tr.Restore(c); err != nil {
		return err
	}
	d.resumed = int(c.Step)
	d.stoppedAt = int(rec.StoppedAt)
	if b, err := d.store.Best(d.spec.ID); err == nil {
		if acc, ok := b.Metrics[checkpoints.DefaultBestMetric]; ok && int(b.Step) <= d.resumed {
			d.bestVal, d.bestValStep, d.haveBest = acc, int(b.Step), true
		}
	}
	rec.Spec, rec.Status = specJSON, checkpoints.StatusRunning
	d.log.Info("resuming", "step", c.Step, "db", d.cfg.DB)
	return d.store.PutJob(rec)
}

func (d *Driver) subscribe() ([]*transport.Subscription, error) {
	push := func(m wire.Message, reply string) { d.events <- event{m, reply} }
	// One receiver for every subject: its bounds hold for all of them
	// together, so a flood of incomplete messages on one cannot add up
	// with another's.
	budget := d.cfg.MaxPendingBytes
	if budget <= 0 {
		// It also bounds the bytes NATS queues for each subscription:
		// results a slow coordinator has yet to take must fit, or NATS
		// drops them (slow consumer) and their leases stall the step until
		// they expire. Every shard of the open steps (the current one and
		// a pipeline's) may be answered at once, and twice over with
		// backups and verified copies.
		result := 4*(d.tr.Layout().Size()+d.tr.StateLayout().Size()) + 4096
		budget = max(32<<20, 16*result, 2*(d.spec.Pipeline+1)*d.spec.Shards*result)
	}
	r := wire.NewReceiver(wire.ReceiverOptions{MaxPendingBytes: budget, MaxPendingCount: 1024})
	var subs []*transport.Subscription
	for _, s := range []string{d.subj.Join, d.subj.Work, d.subj.Result, d.subj.Params, d.subj.Heartbeat, d.subj.Status, d.subj.Checkpoint} {
		sub, err := d.cfg.Conn.Subscribe(s, push, transport.SubscribeOptions{Logger: d.log, Limiter: &d.logLimit, Reassembly: r})
		if err != nil {
			for _, o := range subs {
				o.Unsubscribe() //nolint:errcheck // failing anyway
			}
			return nil, fmt.Errorf("job %q: subscribe %s: %w", d.spec.ID, s, err)
		}
		if s == d.subj.Result {
			d.results = sub
		}
		subs = append(subs, sub)
	}
	// The subscriptions must be live on the server before workers are told
	// to come: flush makes them so.
	if err := d.cfg.Conn.Flush(); err != nil {
		return subs, fmt.Errorf("job %q: %w", d.spec.ID, err)
	}
	return subs, nil
}

func (d *Driver) run(ctx context.Context) (*Summary, error) {
	subs, err := d.subscribe()
	defer func() {
		for _, s := range subs {
			s.Unsubscribe() //nolint:errcheck // shutting down
		}
	}()
	if err != nil {
		return nil, err
	}
	d.start = time.Now()
	d.lastStep = d.start
	d.hello(d.start)
	tick := time.NewTicker(d.cfg.TickEvery)
	defer tick.Stop()
	var lingerEnd <-chan time.Time
	for {
		if err := d.drainOutputs(); err != nil {
			d.fail(err)
			return nil, err
		}
		// Held work requests get work the moment outputs free some (a new
		// step, an expired lease) and Done at the end.
		d.serveParked(time.Now())
		if d.done && lingerEnd == nil {
			d.broadcastDone()
			lingerEnd = time.After(d.cfg.Linger)
		}
		select {
		case ev := <-d.events:
			d.handle(ev, time.Now())
		case now := <-tick.C:
			d.hello(now)
			d.warnShortOfWorkers(now)
			for _, s := range d.logLimit.Due(now) {
				d.log.Warn(s.String())
			}
			for _, s := range d.joinLog.Due(now) {
				d.log.Info(s.String())
			}
			d.m.Tick(now)
			d.parkedFresh = false // time alone may have made work
			d.refresh()
		case <-lingerEnd:
			return d.summary(), nil
		case <-ctx.Done():
			if !d.done {
				if err := d.save(); err != nil {
					d.log.Error("checkpoint on shutdown", "err", err)
				}
			}
			d.unsubscribeAndAnswer(subs)
			subs = nil
			return d.summary(), ctx.Err()
		}
	}
}

// unsubscribeAndAnswer ends a stopping job's subscriptions and answers the
// requests it still holds or has queued, instead of leaving them to time
// out: work requests with Wait (a worker asks again, nobody answers, and a
// pool worker takes another job at once; a pinned one waits for the job to
// come back), parameter requests as stale (their lease is gone with the
// job), anything else as unavailable.
func (d *Driver) unsubscribeAndAnswer(subs []*transport.Subscription) {
	for _, s := range subs {
		s.Unsubscribe() //nolint:errcheck // shutting down
	}
	const why = "the job stopped"
	stopped := &wire.Wait{RetryAfter: machine.DefaultRetryAfter, Reason: why}
	for _, p := range d.parked {
		d.reply(p.reply, stopped)
	}
	d.parked = nil
	for len(d.events) > 0 {
		ev := <-d.events
		if ev.reply == "" {
			continue
		}
		switch ev.msg.(type) {
		case *wire.WorkRequest:
			d.reply(ev.reply, stopped)
		case *wire.ParamsRequest:
			d.reply(ev.reply, &wire.Error{Code: wire.CodeStaleVersion, Text: why})
		default:
			d.reply(ev.reply, &wire.Error{Code: wire.CodeUnavailable, Text: why})
		}
	}
}

// elapsed is the job's time so far: from the start of Run to the last
// step applied once the job is done (Linger, the wait for workers to hear
// Done, is not training time).
func (d *Driver) elapsed() time.Duration {
	if d.done && !d.end.IsZero() {
		return d.end.Sub(d.start)
	}
	return time.Since(d.start)
}

func (d *Driver) summary() *Summary {
	s := &Summary{
		Job: d.spec.ID, Version: d.tr.Version, ResumedFrom: d.resumed, Loss: d.tr.LastLoss,
		ParamsSHA256: d.tr.Params.SHA256(), Counters: d.m.Counters(), Images: d.images, Elapsed: d.elapsed(),
		ParamsServed:    d.served,
		StoppedEarly:    d.done && d.tr.Version < d.spec.Steps,
		InvalidByReason: map[string]int{},
		Eval:            d.evalOut,
	}
	if d.trained != nil {
		s.Counters = *d.trained // the training's, not the evaluation's
	}
	for r, n := range s.Counters.Invalid {
		s.InvalidByReason[r.String()] = n
	}
	if d.results != nil {
		st := d.results.Stats()
		s.Dropped = st.Rejected + st.Dropped
	}
	return s
}

func (d *Driver) fail(err error) {
	rec, jerr := d.store.Job(d.spec.ID)
	if jerr == nil {
		rec.Status = checkpoints.StatusFailed
		if perr := d.store.PutJob(rec); perr != nil {
			d.log.Error("record failure", "err", perr)
		}
	}
	d.log.Error("job failed", "err", err)
}

func (d *Driver) broadcastDone() {
	if err := d.cfg.Conn.Send(d.subj.Ctl, &wire.Ctl{Kind: wire.CtlDone, FinalVersion: uint64(d.tr.Version), Reason: "job done", Epoch: d.epoch}); err != nil {
		d.log.Warn("broadcast done", "err", err)
	}
}

// hello tells workers this process serves the job now, so those that
// waited on a killed coordinator ask again at once instead of waiting out
// their request timeout. It sends at most helloCount hellos, helloEvery
// apart.
func (d *Driver) hello(now time.Time) {
	if d.hellos >= helloCount || now.Before(d.nextHello) {
		return
	}
	d.hellos++
	d.nextHello = now.Add(helloEvery)
	if err := d.cfg.Conn.Send(d.subj.Ctl, &wire.Ctl{Kind: wire.CtlHello, Epoch: d.epoch, Reason: "coordinator started"}); err != nil {
		d.log.Debug("hello", "err", err)
	}
}

func (d *Driver) reply(to string, m wire.Message) {
	if to == "" {
		return
	}
	if err := d.cfg.Conn.Send(to, m); err != nil {
		d.log.Warn("reply", "type", m.Type(), "err", err)
	}
}

func badRequest(err error) *wire.Error {
	return &wire.Error{Code: wire.CodeBadRequest, Text: err.Error()}
}

func (d *Driver) handle(ev event, now time.Time) {
	switch m := ev.msg.(type) {
	case *wire.Join:
		if err := d.m.Join(m.ID, now); err != nil {
			if errors.Is(err, machine.ErrBanned) {
				d.reply(ev.reply, d.bannedError())
				return
			}
			d.reply(ev.reply, badRequest(err))
			return
		}
		// A pool worker comes back to a job every few seconds (fsl-coord
		// serve): only its first join is news. A client may join under
		// ever-new IDs, so first joins share one budget of lines per
		// interval (joinLogBurst), the rest summarised.
		if _, again := d.admitted[m.ID]; again {
			d.log.Debug("worker joined", "worker", m.ID, "threads", m.Threads, "gpu", m.GPU)
		} else if d.limited(&d.joinLog, slog.LevelInfo, joinLogKey, now) {
			d.log.Info("worker joined", "worker", m.ID, "threads", m.Threads, "gpu", m.GPU)
		}
		d.reply(ev.reply, &wire.JoinAck{
			Job: d.spec.ID, WorkerID: m.ID, LeaseTimeout: time.Duration(d.spec.LeaseTimeout),
			HeartbeatEvery: d.cfg.HeartbeatEvery, Version: uint64(d.tr.Version),
			LayoutHash: d.tr.Layout().Hash(), Spec: d.mspec, Epoch: d.epoch,
		})
	case *wire.WorkRequest:
		if refused := d.checkClass(m.Worker, m.Canary, m.Class, now); refused != nil {
			d.reply(ev.reply, refused)
			return
		}
		rep, err := d.m.RequestWork(m.Worker, now)
		if err != nil {
			d.reply(ev.reply, badRequest(err))
			return
		}
		if _, wait := rep.(machine.Wait); wait && d.cfg.HoldWork > 0 && ev.reply != "" {
			d.park(m.Worker, ev.reply, now)
			return
		}
		d.reply(ev.reply, d.toWire(rep))
	case *wire.Result:
		v := d.m.Result(m.Result, now)
		switch {
		case v.Outcome == machine.Lost:
			d.log.Debug("copy lost the race", "worker", m.Worker, "step", m.Step, "shard", m.Shard)
		case v.Mismatch:
			d.log.Warn("verification: copies of a shard differ", "worker", m.Worker, "step", m.Step, "shard", m.Shard, "detail", v.Detail)
		}
		if v.Outcome == machine.Invalid && d.limited(&d.logLimit, slog.LevelWarn, fmt.Sprintf("invalid results from %q: %s", shortID(m.Worker), v.Reason), now) {
			d.log.Warn("invalid result dropped", "worker", m.Worker, "step", m.Step, "shard", m.Shard, "reason", v.Reason, "detail", v.Detail)
		}
	case *wire.ParamsRequest:
		oldest := d.oldestServed()
		if m.Version > uint64(d.tr.Version) || int(m.Version) < oldest || m.Lineage != d.m.Lineage() {
			served := fmt.Sprintf("current is %d", d.tr.Version)
			if oldest < d.tr.Version {
				served = fmt.Sprintf("served are %d to %d", oldest, d.tr.Version)
			}
			d.reply(ev.reply, &wire.Error{Code: wire.CodeStaleVersion,
				Text: fmt.Sprintf("version %d of lineage %d requested, %s of lineage %d", m.Version, m.Lineage, served, d.m.Lineage())})
			return
		}
		d.replyParams(ev.reply, int(m.Version))
	case *wire.Heartbeat:
		if err := d.m.Heartbeat(m.Worker, now); err != nil {
			d.log.Debug("heartbeat", "err", err)
		}
	case *wire.StatusRequest:
		// The view HTTP serves too: JSON has no NaN, and a diverged loss
		// must not make the status unreadable.
		body, err := json.Marshal(statusView(d.status()))
		if err != nil {
			d.reply(ev.reply, &wire.Error{Code: wire.CodeInternal, Text: err.Error()})
			return
		}
		d.reply(ev.reply, &wire.Status{Body: body})
	case *wire.CheckpointRequest:
		d.replyCheckpoint(ev.reply, m.Which)
	default:
		// The message names no sender to key on; its type is one of
		// wire's few.
		if d.limited(&d.logLimit, slog.LevelWarn, fmt.Sprintf("unexpected %v messages", ev.msg.Type()), now) {
			d.log.Warn("unexpected message", "type", ev.msg.Type())
		}
	}
}

// joinLogKey is the one key of the "worker joined" lines, and
// joinLogBurst their budget per wire.DefaultLogInterval: a cluster's
// workers starting together are each named, a client joining under
// ever-new IDs writes one summary line per interval.
const (
	joinLogKey   = "first joins of workers"
	joinLogBurst = 32
)

// limited counts an event of key in l at now and reports whether to log
// its line; a summary of the events l dropped in key's last interval is
// logged first, at level.
func (d *Driver) limited(l *wire.LogLimiter, level slog.Level, key string, now time.Time) bool {
	ok, sum := l.Allow(key, now)
	if sum.Dropped > 0 {
		d.log.Log(context.Background(), level, sum.String())
	}
	return ok
}

// shortID is a worker's ID as a log limiter's key holds it: a worker
// chooses its ID, so keys are kept short.
func shortID(id string) string {
	if len(id) > 64 {
		return id[:64] + "…"
	}
	return id
}

// parkedRequest is a work request held until there is work or HoldWork
// passes.
type parkedRequest struct {
	worker, reply string
	since         time.Time
}

// park holds a worker's work request. A worker has one request out at a
// time, so a newer one replaces its older (timed-out) one.
func (d *Driver) park(worker, reply string, now time.Time) {
	for i := range d.parked {
		if d.parked[i].worker == worker {
			d.parked[i] = parkedRequest{worker, reply, now}
			return
		}
	}
	d.parked = append(d.parked, parkedRequest{worker, reply, now})
}

// serveParked answers held requests that now have work (or Done), and
// those held for HoldWork with Wait; the rest stay parked. It asks the
// machine again only when its Generation moved or a tick passed since all
// were last told to wait: with 256 workers, 192 held requests asked after
// every event took 15% of the coordinator's CPU.
func (d *Driver) serveParked(now time.Time) {
	if len(d.parked) == 0 || (d.parkedFresh && d.m.Generation() == d.parkedGen) {
		return
	}
	gen := d.m.Generation()
	defer func() {
		// Leases granted here may make copies for those asked before.
		d.parkedGen, d.parkedFresh = gen, d.m.Generation() == gen
	}()
	// When no request could get more than Wait, none is asked: each
	// gets the Wait the machine would give, once held long enough.
	may := d.m.MayGrant(now)
	kept := d.parked[:0]
	for _, p := range d.parked {
		var rep machine.Reply = machine.Wait{RetryAfter: d.m.Config().RetryAfter}
		var err error
		if may {
			rep, err = d.m.RequestWork(p.worker, now)
		}
		switch {
		case err != nil:
			d.reply(p.reply, badRequest(err))
		case isWait(rep) && now.Sub(p.since) < d.cfg.HoldWork:
			kept = append(kept, p)
		default:
			d.reply(p.reply, d.toWire(rep))
		}
	}
	d.parked = kept
}

func isWait(r machine.Reply) bool {
	_, ok := r.(machine.Wait)
	return ok
}

// oldestServed is the oldest parameter version workers may ask for: the
// oldest an open step is computed at (the current version but with a
// pipeline), and the current one during an evaluation. The newest is
// always the current version.
func (d *Driver) oldestServed() int {
	if d.eval != nil {
		return d.tr.Version
	}
	return machine.LagVersion(d.tr.Version, d.spec.Pipeline)
}

// encodedParams is one parameter version as the params subject sends it.
type encodedParams struct {
	version int
	lineage uint64
	e       *transport.Encoded
}

// replyParams sends the parameters of version (the current one, or with a
// pipeline one its open steps are computed at), encoded once per version
// however many workers ask. An earlier version goes with the current
// state: a training step's gradients do not read the state.
func (d *Driver) replyParams(to string, version int) {
	lineage := d.m.Lineage()
	oldest := d.oldestServed()
	kept := d.params[:0]
	var e *transport.Encoded
	for _, ep := range d.params {
		if ep.lineage != lineage || ep.version < oldest || ep.version > d.tr.Version {
			continue
		}
		kept = append(kept, ep)
		if ep.version == version {
			e = ep.e
		}
	}
	clear(d.params[len(kept):]) // lets the dropped encodings be freed
	d.params = kept
	if e == nil {
		p, st := d.tr.Params, d.tr.State
		switch {
		case d.eval != nil && d.evalParams != nil:
			p, st = d.evalParams, d.evalState
		case version != d.tr.Version:
			var ok bool
			if p, ok = d.tr.ParamsAt(version); !ok {
				d.reply(to, &wire.Error{Code: wire.CodeStaleVersion, Text: fmt.Sprintf("version %d is not held", version)})
				return
			}
		}
		var err error
		e, err = transport.Prepare(&wire.Params{Version: uint64(version), Lineage: lineage, LayoutHash: d.tr.Layout().Hash(), Params: p, State: st})
		if err != nil {
			d.reply(to, &wire.Error{Code: wire.CodeInternal, Text: err.Error()})
			return
		}
		d.params = append(d.params, encodedParams{version, lineage, e})
	}
	if to == "" {
		return
	}
	if err := d.cfg.Conn.SendEncoded(to, e); err != nil {
		d.log.Warn("reply", "type", "params", "err", err)
		return
	}
	d.served++
}

// JobStatus is what the status subject answers, as JSON.
type JobStatus struct {
	Job        string             `json:"job"`
	Step       int                `json:"step"`
	Steps      int                `json:"steps"`
	Loss       float64            `json:"loss"`
	Images     int                `json:"images"`
	Elapsed    float64            `json:"elapsed_s"`
	Done       bool               `json:"done"`
	Validation map[string]float64 `json:"validation,omitempty"`
	// ComputeClass describes the job's compute class (its first worker's,
	// or the first of the class its spec names), and ComputeCanary is that
	// class's canary (what a spec's compute_class names); both empty until
	// a worker was admitted.
	ComputeClass  string         `json:"compute_class,omitempty"`
	ComputeCanary string         `json:"compute_canary,omitempty"`
	Status        machine.Status `json:"machine"`
	// Evaluating: the training is over and the machine's shards are the
	// evaluation's (DriverConfig.EvalWork).
	Evaluating bool `json:"evaluating,omitempty"`
}

func (d *Driver) status() JobStatus {
	return JobStatus{Job: d.spec.ID, Step: d.tr.Version, Steps: d.spec.Steps, Loss: d.tr.LastLoss,
		Images: d.images, Elapsed: d.elapsed().Seconds(), Done: d.done, Validation: d.lastVal,
		ComputeClass: d.class.Description, ComputeCanary: d.class.Canary, Status: d.m.Status(), Evaluating: d.eval != nil}
}

// replyCheckpoint serves a checkpoint to a reader while the store is held
// by this process: the export format, which Import and eval read.
func (d *Driver) replyCheckpoint(to, which string) {
	var c *checkpoints.Checkpoint
	sel, err := checkpoints.ParseSelector(which)
	if err == nil {
		c, err = d.store.Select(d.spec.ID, sel)
	}
	if err != nil {
		code := wire.CodeInternal
		if errors.Is(err, checkpoints.ErrNotFound) || errors.Is(err, checkpoints.ErrBadSelector) {
			code = wire.CodeNotFound
		}
		d.reply(to, &wire.Error{Code: code, Text: err.Error()})
		return
	}
	var buf bytes.Buffer
	if err := d.store.Export(d.spec.ID, c.Step, &buf); err != nil {
		d.reply(to, &wire.Error{Code: wire.CodeInternal, Text: err.Error()})
		return
	}
	d.reply(to, &wire.Checkpoint{Step: c.Step, Body: buf.Bytes()})
}

// toWire turns the machine's reply into a message, rendering a lease's
// batch: a pure function of (seed, step, shard), so any copy of a shard is
// the same batch.
func (d *Driver) toWire(rep machine.Reply) wire.Message {
	switch r := rep.(type) {
	case machine.Lease:
		var b *params.Batch
		if d.eval != nil {
			b = d.eval.Batch(r.Shard)
		} else {
			b = d.sampler.Batch(d.spec.Seed, r.Step, r.Shard)
		}
		return &wire.Lease{
			Step: uint64(r.Step), Shard: r.Shard, Version: uint64(r.Version), Lineage: r.Lineage,
			Timeout: time.Duration(d.spec.LeaseTimeout), Attempt: r.Attempt - 1,
			Batch: *b,
		}
	case machine.Wait:
		return &wire.Wait{RetryAfter: r.RetryAfter}
	case machine.BannedReply:
		return d.bannedError()
	default:
		return &wire.Done{FinalVersion: uint64(d.tr.Version)}
	}
}

func (d *Driver) drainOutputs() error {
	if err := d.sumAccepted(); err != nil {
		return err
	}
	for d.m.HasReady() {
	outputs:
		for _, o := range d.m.Ready() {
			switch o := o.(type) {
			case machine.Banned:
				if err := d.recordBan(o); err != nil {
					return err
				}
			case machine.Rollback:
				if err := d.rollback(o); err != nil {
					return err
				}
				break outputs // the rest describe the discarded steps
			case machine.StepComplete:
				if d.eval != nil {
					m, err := d.eval.Finish(o.Results)
					if err != nil {
						return fmt.Errorf("job %q: evaluation: %w", d.spec.ID, err)
					}
					d.evalOut = m
					if err := d.m.Advance(d.tr.Version + 1); err != nil {
						return fmt.Errorf("job %q: %w", d.spec.ID, err)
					}
					continue
				}
				if err := d.tr.Apply(o.Results); err != nil {
					return fmt.Errorf("job %q: %w", d.spec.ID, err)
				}
				if err := d.m.Advance(d.tr.Version); err != nil {
					return fmt.Errorf("job %q: %w", d.spec.ID, err)
				}
				d.images += d.spec.ImagesPerStep()
				d.lastStep = time.Now()
				if err := d.validate(); err != nil {
					return err
				}
				// One machine snapshot per step serves the status and the
				// progress line.
				d.refresh()
				st := d.Status()
				pr := Progress{Step: d.tr.Version, Steps: d.spec.Steps, Loss: d.tr.LastLoss, Validation: d.lastVal,
					Images: d.images, Elapsed: time.Since(d.start), Workers: len(st.Status.Workers), Counters: st.Status.Counters}
				if d.cfg.Observer != nil {
					d.cfg.Observer.StepApplied(pr)
				}
			case machine.CheckpointDue:
				if d.eval != nil {
					continue // the evaluation changes no parameter
				}
				if err := d.save(); err != nil {
					return err
				}
			case machine.JobDone:
				if d.eval != nil { // the evaluation's end
					d.eval, d.done = nil, true
					d.log.Info("evaluation done", "metrics", d.evalOut)
					continue
				}
				d.end = time.Now()
				rec, err := d.store.Job(d.spec.ID)
				if err == nil {
					rec.Status = checkpoints.StatusDone
					if o.Version < d.spec.Steps {
						rec.StoppedAt = uint64(o.Version)
					}
					err = d.store.PutJob(rec)
				}
				if err != nil {
					return fmt.Errorf("job %q: mark done: %w", d.spec.ID, err)
				}
				d.log.Info("job done", "version", d.tr.Version, "params_sha256", d.tr.Params.SHA256())
				if d.cfg.EvalWork != nil {
					if err := d.startEval(); err != nil {
						return err
					}
					break outputs // the finished machine has nothing more to say
				}
				d.done = true
			}
		}
	}
	return nil
}

// sumAccepted sums the current step's accepted results into the trainer
// as far as they run in shard order, so that at the step's end only the
// shards accepted last are left to sum (Trainer.Add): summing 64 Conv-4
// gradients takes milliseconds that every worker would otherwise wait.
func (d *Driver) sumAccepted() error {
	if d.eval != nil || d.m.Step() != d.tr.Version {
		return nil
	}
	for n := d.tr.Added(); n < d.spec.Shards; n++ {
		r, ok := d.m.Accepted(n)
		if !ok {
			return nil
		}
		if err := d.tr.Add(r); err != nil {
			return fmt.Errorf("job %q: %w", d.spec.ID, err)
		}
	}
	return nil
}

// validate runs the configured validation when the step calls for it:
// every EvalEvery steps and after the last one. A validation of a version
// the machine will not checkpoint (EvalEvery not a multiple of
// CheckpointEvery) writes a checkpoint of its own, so every validation can
// be the best and the best is always a validated checkpoint.
func (d *Driver) validate() error {
	v := d.tr.Version
	if d.cfg.Validate == nil || d.spec.EvalEvery <= 0 || (v%d.spec.EvalEvery != 0 && v != d.spec.Steps) {
		return nil
	}
	m, err := d.cfg.Validate(v, d.tr.Params, d.tr.State)
	if err != nil {
		return fmt.Errorf("validate step %d of job %s: %w", v, d.spec.ID, err)
	}
	d.lastVal, d.valStep = m, v
	d.log.Info("validation", "step", v, "metrics", m)
	if acc, ok := m[checkpoints.DefaultBestMetric]; ok && (!d.haveBest || acc > d.bestVal) {
		d.bestVal, d.bestValStep, d.haveBest = acc, v, true
	}
	if p := d.spec.Patience; p > 0 && d.haveBest && v < d.spec.Steps && (v-d.bestValStep)/d.spec.EvalEvery >= p {
		d.log.Info("stopping early: no better val_acc in the last validations", "patience", p,
			"step", v, "best_val_acc", d.bestVal, "best_step", d.bestValStep)
		defer func() {
			if err := d.m.Stop(); err != nil {
				d.log.Error("stop early", "err", err)
			}
		}()
	}
	if d.cfg.Observer != nil {
		d.cfg.Observer.Validated(v, m)
	}
	// The machine's own cadence (Machine.Advance): every CheckpointEvery
	// steps and the last; its CheckpointDue follows and saves these metrics.
	if v == d.spec.Steps || (d.spec.CheckpointEvery > 0 && v%d.spec.CheckpointEvery == 0) {
		return nil
	}
	return d.save()
}

// save checkpoints the trainer's version with its loss and, when the last
// validation was of this very version, its validation metrics.
func (d *Driver) save() error {
	var metrics map[string]float64
	if d.tr.Version > 0 {
		metrics = map[string]float64{"loss": d.tr.LastLoss}
		if d.class.Mixed {
			metrics["mixed_classes"] = 1
		}
		if d.valStep == d.tr.Version {
			for k, v := range d.lastVal {
				metrics[k] = v
			}
		}
	}
	start := time.Now()
	if err := d.saveTrust(); err != nil {
		return fmt.Errorf("checkpoint step %d of job %s: record trusted workers: %w", d.tr.Version, d.spec.ID, err)
	}
	if err := d.store.Save(d.spec.ID, d.tr.Checkpoint(metrics)); err != nil {
		return fmt.Errorf("checkpoint step %d of job %s: %w", d.tr.Version, d.spec.ID, err)
	}
	took := time.Since(start)
	d.log.Debug("checkpoint", "step", d.tr.Version, "took", took)
	if d.cfg.Observer != nil {
		d.cfg.Observer.Checkpointed(d.tr.Version, took)
	}
	return nil
}
