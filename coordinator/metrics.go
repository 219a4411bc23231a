package coordinator

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics exposes one job in the Prometheus format. It is two things:
//
//   - an Observer, for what only events carry: checkpoint latency, time per
//     step, the latest validation metrics;
//   - a prometheus.Collector that reads the job's JobStatus at scrape time
//     (step, loss, images, workers and the machine's counters), so the
//     exported counters are the machine's own and can never drift from it.
//
// Every series carries the label job. Until Attach is called the collector
// part exports nothing (the job is still loading its dataset). Safe for
// concurrent use.
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

	descs map[string]*prometheus.Desc
}

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
	{"fsl_workers_joined_total", "Workers registered.", true, func(s JobStatus) float64 { return float64(s.Status.Counters.WorkersJoined) }},
	{"fsl_workers_left_total", "Workers that left.", true, func(s JobStatus) float64 { return float64(s.Status.Counters.WorkersLeft) }},
	{"fsl_workers_quarantined", "Workers whose work requests are refused for a back-off after their leases kept expiring.", false, func(s JobStatus) float64 { return float64(s.Status.Quarantined()) }},
	{"fsl_workers_quarantines_total", "Quarantines begun (leases of one worker expired QuarantineAfter times in a row).", true, func(s JobStatus) float64 { return float64(s.Status.Counters.Quarantines) }},
	{"fsl_leases_refused_total", "Work requests answered Wait because the worker held the maximum number of leases.", true, func(s JobStatus) float64 { return float64(s.Status.Counters.Refused) }},
	{"fsl_workers_lost_total", "Workers declared lost after a heartbeat timeout.", true, func(s JobStatus) float64 { return float64(s.Status.Counters.WorkersLost) }},
}

const (
	metricInvalid    = "fsl_results_invalid_total"
	metricValidation = "fsl_validation"
	metricValStep    = "fsl_validation_step"
)

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// NewMetrics returns the metrics of job, attached to no status yet.
func NewMetrics(job string) *Metrics {
	labels := prometheus.Labels{"job": job}
	m := &Metrics{
		job: job,
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
	m.descs[metricValidation] = prometheus.NewDesc(metricValidation, "Latest validation metrics (val_acc: few-shot accuracy on held-out classes, 0..1).", []string{"metric"}, labels)
	m.descs[metricValStep] = prometheus.NewDesc(metricValStep, "Step the latest validation measured.", nil, labels)
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
			ch <- prometheus.MustNewConstMetric(m.descs[metricValidation], prometheus.GaugeValue, v, k)
		}
		ch <- prometheus.MustNewConstMetric(m.descs[metricValStep], prometheus.GaugeValue, float64(valStep))
	}
	f := m.status.Load()
	if f == nil {
		return
	}
	st := (*f)()
	for _, s := range statusMetrics {
		kind := prometheus.GaugeValue
		if s.counter {
			kind = prometheus.CounterValue
		}
		ch <- prometheus.MustNewConstMetric(m.descs[s.name], kind, s.value(st))
	}
	for r, n := range st.Status.Counters.Invalid {
		ch <- prometheus.MustNewConstMetric(m.descs[metricInvalid], prometheus.CounterValue, float64(n), r.String())
	}
}
