package coordinator

import (
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsl-project/fsl/coordinator/machine"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics exposes one job in the Prometheus format. It is two things:
//
//   - an Observer, for what only events carry: checkpoint latency, time per
//     step, the latest validation metrics;
//   - a prometheus.Collector that reads the job's JobStatus at scrape time
//     (step, loss, images, workers and the machine's counters, per worker
//     too), so the exported counters are the machine's own and can never
//     drift from it.
//
// Every series carries the label fsl_job (not job: Prometheus sets job on
// every target, and a scraped job label would be renamed exported_job).
// fsl_build_info says what binary serves. Until Attach is called the
// collector part exports nothing else (the job is still loading its
// dataset). Safe for concurrent use.
type Metrics struct {
	job    string
	status atomic.Pointer[func() JobStatus]

	checkpoint prometheus.Histogram
	step       prometheus.Histogram

	mu       sync.Mutex
	val      map[string]float64
	valStep  int
	valCount int
	prevStep time.Duration // Progress.Elapsed of the previous step
	havePrev bool

	maxWorkers int
	build      BuildInfo
	descs      map[string]*prometheus.Desc
}

// JobLabel is the label every series of Metrics carries with the job ID.
const JobLabel = "fsl_job"

// DefaultMaxWorkerSeries bounds the workers that get per-worker series: a
// worker chooses its ID, so their number must not grow a scrape without
// bound.
const DefaultMaxWorkerSeries = 64

// Names of the metrics the collector part exports (all prefixed fsl_).
// Counters end in _total and count since this coordinator process started.
var statusMetrics = []struct {
	name, help string
	counter    bool
	value      func(JobStatus) float64
}{
	{"fsl_step", "Parameter version: steps applied so far.", false, func(s JobStatus) float64 { return float64(s.Step) }},
	{"fsl_steps", "Steps the job trains for.", false, func(s JobStatus) float64 { return float64(s.Steps) }},
	{"fsl_loss", "Mean training loss of the last applied step.", false, func(s JobStatus) float64 { return s.Loss }},
	{"fsl_done", "1 once the job's last step is applied.", false, func(s JobStatus) float64 { return b2f(s.Done) }},
	{"fsl_elapsed_seconds", "Seconds since this process started serving the job.", false, func(s JobStatus) float64 { return s.Elapsed }},
	{"fsl_workers", "Workers the coordinator currently knows.", false, func(s JobStatus) float64 { return float64(len(s.Status.Workers)) }},
	{"fsl_images_total", "Images computed on (summed over applied shards); rate() is the throughput.", true, func(s JobStatus) float64 { return float64(s.Images) }},
	{"fsl_shards_leased_total", "Shard leases granted, backups included.", true, func(s JobStatus) float64 { return float64(s.Status.Counters.Leased) }},
	{"fsl_shards_backup_total", "Backup leases granted for slow shards.", true, func(s JobStatus) float64 { return float64(s.Status.Counters.Backups) }},
	{"fsl_shards_expired_total", "Leases that reached their deadline without a result.", true, func(s JobStatus) float64 { return float64(s.Status.Counters.Expired) }},
	{"fsl_shards_returned_total", "Leases taken back from workers that left or were lost.", true, func(s JobStatus) float64 { return float64(s.Status.Counters.Returned) }},
	{"fsl_results_applied_total", "Shard results accepted (the first valid one per shard).", true, func(s JobStatus) float64 { return float64(s.Status.Counters.Applied) }},
	{"fsl_results_late_total", "Accepted results whose sender no longer held the lease.", true, func(s JobStatus) float64 { return float64(s.Status.Counters.Late) }},
	{"fsl_results_duplicate_total", "Valid results dropped because their shard was already done.", true, func(s JobStatus) float64 { return float64(s.Status.Counters.Duplicates) }},
	{"fsl_results_lost_race_total", "Copies of recent shards from workers whose lease lost the race (backups, expired leases): normal in a healthy run.", true, func(s JobStatus) float64 { return float64(s.Status.Counters.LostRaces) }},
	{"fsl_verify_checks_total", "Verified shards settled by two workers' agreeing bits (verify).", true, func(s JobStatus) float64 { return float64(s.Status.Counters.Checks) }},
	{"fsl_verify_mismatches_total", "Copies of verified shards that differed from another copy or the settled result.", true, func(s JobStatus) float64 { return float64(s.Status.Counters.Mismatches) }},
	{"fsl_verify_bans_total", "Workers banned for a result that differed from the bits two others agreed on.", true, func(s JobStatus) float64 { return float64(s.Status.Counters.Bans) }},
	{"fsl_verify_rollbacks_total", "Rollbacks to an earlier checkpoint after a ban of a worker whose results were taken unchecked.", true, func(s JobStatus) float64 { return float64(s.Status.Counters.Rollbacks) }},
	{"fsl_verify_steps_rolled_back_total", "Steps discarded by rollbacks and computed again.", true, func(s JobStatus) float64 { return float64(s.Status.Counters.StepsRolledBack) }},
	{"fsl_workers_joined_total", "Workers registered.", true, func(s JobStatus) float64 { return float64(s.Status.Counters.WorkersJoined) }},
	{"fsl_workers_left_total", "Workers that left.", true, func(s JobStatus) float64 { return float64(s.Status.Counters.WorkersLeft) }},
	{"fsl_workers_quarantined", "Workers whose work requests are refused for a back-off after their leases kept expiring.", false, func(s JobStatus) float64 { return float64(s.Status.Quarantined()) }},
	{"fsl_workers_quarantines_total", "Quarantines begun (leases of one worker expired QuarantineAfter times in a row).", true, func(s JobStatus) float64 { return float64(s.Status.Counters.Quarantines) }},
	{"fsl_leases_refused_total", "Work requests answered Wait because the worker held the maximum number of leases.", true, func(s JobStatus) float64 { return float64(s.Status.Counters.Refused) }},
	{"fsl_workers_lost_total", "Workers declared lost after a heartbeat timeout.", true, func(s JobStatus) float64 { return float64(s.Status.Counters.WorkersLost) }},
}

// Per-worker counters, labelled worker, from WorkerStatus.Tally.
var workerMetrics = []struct {
	name, help string
	value      func(machine.WorkerTally) float64
}{
	{"fsl_worker_leases_total", "Leases granted to the worker, backups included.", func(t machine.WorkerTally) float64 { return float64(t.Leased) }},
	{"fsl_worker_leases_expired_total", "Leases of the worker that reached their deadline first.", func(t machine.WorkerTally) float64 { return float64(t.Expired) }},
	{"fsl_worker_results_accepted_total", "Results of the worker accepted (the first valid one of a shard).", func(t machine.WorkerTally) float64 { return float64(t.Accepted) }},
	{"fsl_worker_results_invalid_total", "Results of the worker dropped as invalid.", func(t machine.WorkerTally) float64 { return float64(t.Invalid) }},
}

const (
	metricInvalid        = "fsl_results_invalid_total"
	metricAccuracy       = "fsl_validation_accuracy"
	metricCI             = "fsl_validation_accuracy_ci95_half_width"
	metricValidation     = "fsl_validation_metric"
	metricValStep        = "fsl_validation_step"
	metricBuildInfo      = "fsl_build_info"
	metricWorkersOmitted = "fsl_worker_series_omitted"
)

// Validation metrics with series of their own (the rest go to
// fsl_validation_metric{metric}): the accuracy and its 95% CI's half-width
// are plotted together, a band, and must not share a series.
var validationSeries = map[string]string{"val_acc": metricAccuracy, "val_ci95": metricCI}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// NewMetrics returns the metrics of job, attached to no status yet, with
// per-worker series for at most maxWorkers workers (DefaultMaxWorkerSeries
// when maxWorkers <= 0).
func NewMetrics(job string, maxWorkers int) *Metrics {
	if maxWorkers <= 0 {
		maxWorkers = DefaultMaxWorkerSeries
	}
	labels := prometheus.Labels{JobLabel: job}
	m := &Metrics{
		job: job, maxWorkers: maxWorkers, build: ReadBuildInfo(),
		checkpoint: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "fsl_checkpoint_seconds", Help: "Time to write one checkpoint to the bbolt store.",
			ConstLabels: labels, Buckets: prometheus.ExponentialBuckets(0.001, 2, 14), // 1 ms .. 8 s
		}),
		step: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "fsl_step_seconds", Help: "Wall time between consecutive applied steps.",
			ConstLabels: labels, Buckets: prometheus.ExponentialBuckets(0.005, 2, 14), // 5 ms .. 40 s
		}),
		descs: map[string]*prometheus.Desc{},
	}
	for _, s := range statusMetrics {
		m.descs[s.name] = prometheus.NewDesc(s.name, s.help, nil, labels)
	}
	m.descs[metricInvalid] = prometheus.NewDesc(metricInvalid, "Results dropped as invalid, by reason.", []string{"reason"}, labels)
	m.descs[metricAccuracy] = prometheus.NewDesc(metricAccuracy, "Latest validation's few-shot accuracy on held-out classes (0..1).", nil, labels)
	m.descs[metricCI] = prometheus.NewDesc(metricCI, "Half-width of the latest validation accuracy's 95% confidence interval (accuracy ± this).", nil, labels)
	m.descs[metricValidation] = prometheus.NewDesc(metricValidation, "Latest validation's other metrics, by name.", []string{"metric"}, labels)
	m.descs[metricValStep] = prometheus.NewDesc(metricValStep, "Step the latest validation measured.", nil, labels)
	m.descs[metricBuildInfo] = prometheus.NewDesc(metricBuildInfo, "Always 1: the coordinator's version, VCS revision, Go version, and the job's compute class (empty until its first worker).",
		[]string{"version", "revision", "goversion", "compute_class"}, labels)
	m.descs[metricWorkersOmitted] = prometheus.NewDesc(metricWorkersOmitted, "Known workers left without per-worker series (beyond the cap, least recently seen first).", nil, labels)
	for _, w := range workerMetrics {
		m.descs[w.name] = prometheus.NewDesc(w.name, w.help+" Per worker, for the workers the coordinator knows (a lost or departed one is forgotten).", []string{"worker"}, labels)
	}
	return m
}

// Attach makes the collector read status (typically Driver.Status) at every
// scrape. status must be safe to call from any goroutine.
func (m *Metrics) Attach(status func() JobStatus) { m.status.Store(&status) }

// StepApplied implements Observer: it records the time since the previous
// step. It does not block.
func (m *Metrics) StepApplied(p Progress) {
	m.mu.Lock()
	prev, have := m.prevStep, m.havePrev
	m.prevStep, m.havePrev = p.Elapsed, true
	m.mu.Unlock()
	if have && p.Elapsed >= prev {
		m.step.Observe((p.Elapsed - prev).Seconds())
	}
}

// Checkpointed implements Observer.
func (m *Metrics) Checkpointed(_ int, took time.Duration) { m.checkpoint.Observe(took.Seconds()) }

// Validated implements Observer; metrics is copied.
func (m *Metrics) Validated(step int, metrics map[string]float64) {
	cp := make(map[string]float64, len(metrics))
	for k, v := range metrics {
		cp[k] = v
	}
	m.mu.Lock()
	m.val, m.valStep = cp, step
	m.valCount++
	m.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range m.descs {
		ch <- d
	}
	m.checkpoint.Describe(ch)
	m.step.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.checkpoint.Collect(ch)
	m.step.Collect(ch)
	m.mu.Lock()
	val, valStep, valCount := m.val, m.valStep, m.valCount
	m.mu.Unlock()
	if valCount > 0 {
		for k, v := range val {
			if name, own := validationSeries[k]; own {
				ch <- prometheus.MustNewConstMetric(m.descs[name], prometheus.GaugeValue, v)
			} else {
				ch <- prometheus.MustNewConstMetric(m.descs[metricValidation], prometheus.GaugeValue, v, k)
			}
		}
		ch <- prometheus.MustNewConstMetric(m.descs[metricValStep], prometheus.GaugeValue, float64(valStep))
	}
	f := m.status.Load()
	if f == nil {
		ch <- prometheus.MustNewConstMetric(m.descs[metricBuildInfo], prometheus.GaugeValue, 1, m.build.Version, m.build.Revision, m.build.GoVersion, "")
		return
	}
	st := (*f)()
	ch <- prometheus.MustNewConstMetric(m.descs[metricBuildInfo], prometheus.GaugeValue, 1, m.build.Version, m.build.Revision, m.build.GoVersion, st.ComputeClass)
	ws, omitted := capWorkers(st.Status.Workers, m.maxWorkers)
	for _, w := range ws {
		for _, wm := range workerMetrics {
			ch <- prometheus.MustNewConstMetric(m.descs[wm.name], prometheus.CounterValue, wm.value(w.Tally), w.ID)
		}
	}
	ch <- prometheus.MustNewConstMetric(m.descs[metricWorkersOmitted], prometheus.GaugeValue, float64(omitted))
	for _, s := range statusMetrics {
		kind := prometheus.GaugeValue
		if s.counter {
			kind = prometheus.CounterValue
		}
		ch <- prometheus.MustNewConstMetric(m.descs[s.name], kind, s.value(st))
	}
	for r, n := range st.Status.Counters.Invalid {
		ch <- prometheus.MustNewConstMetric(m.descs[metricInvalid], prometheus.CounterValue, float64(n), machine.ReasonKey(r))
	}
}

// capWorkers returns at most n of ws, the most recently seen first (then by
// ID), and how many it left out.
func capWorkers(ws []machine.WorkerStatus, n int) ([]machine.WorkerStatus, int) {
	if len(ws) <= n {
		return ws, 0
	}
	s := slices.Clone(ws)
	slices.SortFunc(s, func(a, b machine.WorkerStatus) int {
		if c := b.LastSeen.Compare(a.LastSeen); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return s[:n], len(s) - n
}

// BuildInfo says what binary runs, from runtime/debug.ReadBuildInfo.
type BuildInfo struct {
	// Version is the main module's version: a release tag, or "(devel)"
	// for a build from a source tree.
	Version string
	// Revision is the VCS revision the binary was built from, with
	// "-dirty" when the tree had changes; "unknown" when the build
	// recorded none (go build -buildvcs=false, go test).
	Revision  string
	GoVersion string
}

// ReadBuildInfo reads the running binary's BuildInfo.
func ReadBuildInfo() BuildInfo {
	b := BuildInfo{Version: "unknown", Revision: "unknown", GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if bi.Main.Version != "" {
		b.Version = bi.Main.Version
	}
	if bi.GoVersion != "" {
		b.GoVersion = bi.GoVersion
	}
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && b.Revision != "unknown" {
		b.Revision += "-dirty"
	}
	return b
}
