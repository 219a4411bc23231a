package coordinator

import (
	"context"
	"log/slog"
	"maps"
	"time"

	"github.com/fsl-project/fsl/checkpoints"
)

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

// DefaultHistoryFlushEvery is how long a HistoryRecorder holds steps
// before writing them when no checkpoint comes first.
const DefaultHistoryFlushEvery = 5 * time.Second

// maxPendingHistory bounds the steps a HistoryRecorder holds while its
// writes fail; beyond it the oldest are dropped.
const maxPendingHistory = 1 << 16

// HistoryRecorder is an Observer that keeps the job's training history
// (each step's loss, throughput and workers, and its validation's metrics)
// in the checkpoint store (checkpoints.Store.AppendHistory), so the curves
// of a finished or restarted job survive its coordinator. It writes in
// batches: after every checkpoint, when steps have waited FlushEvery, and at
// Close; each batch is one transaction. Its store is its own, opened at the
// first write with WithReleaseBetweenWrites, after the driver created the
// file; the driver's store holds the file only during its own calls, and
// both are called from the driver's goroutine, so they never wait on each
// other. A failed write is logged and retried with the next batch: history
// never stops a job.
type HistoryRecorder struct {
	path, job string
	log       *slog.Logger
	every     time.Duration
	now       func() time.Time

	store   *checkpoints.Store
	pending []checkpoints.HistoryRecord
	val     map[int]map[string]float64 // validations waiting for their step
	oldest  time.Time                  // when the first pending step came
	rate    throughput
	failing bool // the last write failed (log once per failing streak)
}

// NewHistoryRecorder returns a recorder of job's history into the store at
// path, writing at least every flushEvery (DefaultHistoryFlushEvery when
// <= 0); log receives write failures (slog.Default() when nil).
func NewHistoryRecorder(path, job string, flushEvery time.Duration, log *slog.Logger) *HistoryRecorder {
	if flushEvery <= 0 {
		flushEvery = DefaultHistoryFlushEvery
	}
	if log == nil {
		log = slog.Default()
	}
	return &HistoryRecorder{path: path, job: job, log: log, every: flushEvery, now: time.Now, val: map[int]map[string]float64{}}
}

// StepApplied implements Observer.
func (r *HistoryRecorder) StepApplied(p Progress) {
	now := r.now()
	rec := checkpoints.HistoryRecord{Step: uint64(p.Step), Time: now, Loss: p.Loss,
		ImagesPerSecond: r.rate.update(p.Images, p.Elapsed.Seconds()), Workers: p.Workers}
	if m, ok := r.val[p.Step]; ok {
		rec.Metrics = m
		delete(r.val, p.Step)
	}
	if len(r.pending) == 0 {
		r.oldest = now
	}
	if len(r.pending) >= maxPendingHistory {
		r.pending = r.pending[1:]
	}
	r.pending = append(r.pending, rec)
	if now.Sub(r.oldest) >= r.every {
		r.Flush() //nolint:errcheck // logged; retried with the next batch
	}
}

// Checkpointed implements Observer: a checkpoint's write is followed by the
// history's.
func (r *HistoryRecorder) Checkpointed(int, time.Duration) {
	r.Flush() //nolint:errcheck // logged; retried with the next batch
}

// Validated implements Observer. The driver validates a step before it
// reports it applied, so the metrics wait for StepApplied of that step.
func (r *HistoryRecorder) Validated(step int, metrics map[string]float64) {
	r.val[step] = maps.Clone(metrics)
}

// Flush writes the steps held, if any.
func (r *HistoryRecorder) Flush() error {
	if len(r.pending) == 0 {
		return nil
	}
	if r.store == nil {
		s, err := checkpoints.Open(r.path, checkpoints.WithReleaseBetweenWrites(), checkpoints.WithLogger(r.log))
		if err != nil {
			return r.failed(err)
		}
		r.store = s
	}
	if err := r.store.AppendHistory(r.job, r.pending); err != nil {
		return r.failed(err)
	}
	if r.failing {
		r.log.Info("training history written again", "db", r.path)
	}
	r.pending, r.failing = r.pending[:0], false
	return nil
}

func (r *HistoryRecorder) failed(err error) error {
	if !r.failing {
		r.log.Warn("training history not written (retried with the next batch)", "db", r.path, "steps_held", len(r.pending), "err", err)
	}
	r.failing = true
	return err
}

// Close writes the steps held and releases the store.
func (r *HistoryRecorder) Close() error {
	err := r.Flush()
	if r.store != nil {
		if cerr := r.store.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// RunRecorded builds the job's driver with its training history recorded
// in the store (a HistoryRecorder after cfg.Observer: what the dashboard of
// a later run and fsl-coord history read), tells started of the driver
// before it runs (to attach a monitor's status), and runs it until ctx
// ends. fsl-coord start and each job of a serving coordinator run this way.
func RunRecorded(ctx context.Context, cfg DriverConfig, started func(*Driver)) (*Summary, error) {
	rec := NewHistoryRecorder(cfg.DB, cfg.Spec.ID, 0, cfg.Logger)
	defer rec.Close() //nolint:errcheck // a failed write was logged by the recorder
	obs := Observers{rec}
	if cfg.Observer != nil {
		obs = Observers{cfg.Observer, rec}
	}
	cfg.Observer = obs
	d, err := NewDriver(cfg)
	if err != nil {
		return nil, err
	}
	if started != nil {
		started(d)
	}
	return d.Run(ctx)
}
