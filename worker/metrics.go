package worker

import (
	"bufio"
	"fmt"
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Metrics counts what one worker does, for Prometheus: its ServeHTTP
// answers in the text exposition format. Pass it as Config.Metrics; Run
// fills it in. Every series carries the labels fsl_job and worker (the
// worker's ID, as the coordinator's per-worker series name it). The
// names are the worker's own (fsl_worker_shards_computed_total, ...), never
// one of the coordinator's, so both can be scraped into one Prometheus.
// Safe for concurrent use. Written by hand rather than with the Prometheus
// client: the worker's few counters do not justify linking it into every
// worker.
type Metrics struct {
	shards, fetched, stale, requests, waits, failed atomic.Int64
	computeNanos, fetchNanos                        atomic.Int64
	version                                         atomic.Int64 // -1: none held
	busy                                            atomic.Bool

	mu                 sync.Mutex
	job, worker, class string
	build              [3]string // version, revision, Go version
}

// NewMetrics returns a worker's metrics, all zero.
func NewMetrics() *Metrics {
	m := &Metrics{}
	m.version.Store(-1)
	m.build = buildInfo()
	return m
}

func (m *Metrics) identify(job, worker string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.job, m.worker = job, worker
	m.mu.Unlock()
}

func (m *Metrics) setClass(class string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.class = class
	m.mu.Unlock()
}

// The loop's hooks; each is a no-op on a nil *Metrics.
func (m *Metrics) computed(d time.Duration) {
	if m != nil {
		m.shards.Add(1)
		m.computeNanos.Add(int64(d))
	}
}

func (m *Metrics) fetchedParams(version uint64, d time.Duration) {
	if m != nil {
		m.fetched.Add(1)
		m.fetchNanos.Add(int64(d))
		m.version.Store(int64(version))
	}
}

func (m *Metrics) requested()     { m.inc(func(m *Metrics) *atomic.Int64 { return &m.requests }) }
func (m *Metrics) requestFailed() { m.inc(func(m *Metrics) *atomic.Int64 { return &m.failed }) }
func (m *Metrics) waited()        { m.inc(func(m *Metrics) *atomic.Int64 { return &m.waits }) }
func (m *Metrics) staleLease()    { m.inc(func(m *Metrics) *atomic.Int64 { return &m.stale }) }

func (m *Metrics) inc(c func(*Metrics) *atomic.Int64) {
	if m != nil {
		c(m).Add(1)
	}
}

func (m *Metrics) setBusy(b bool) {
	if m != nil {
		m.busy.Store(b)
	}
}

// ServeHTTP writes the metrics in Prometheus's text format (version 0.0.4).
func (m *Metrics) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	bw := bufio.NewWriter(w)
	m.write(bw)
	bw.Flush() //nolint:errcheck // the client went away
}

func (m *Metrics) write(w *bufio.Writer) {
	m.mu.Lock()
	job, worker, class, build := m.job, m.worker, m.class, m.build
	m.mu.Unlock()
	labels := `fsl_job="` + escapeLabel(job) + `",worker="` + escapeLabel(worker) + `"`
	metric := func(name, typ, help string, v float64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s{%s} %s\n", name, help, name, typ, name, labels, strconv.FormatFloat(v, 'g', -1, 64))
	}
	metric("fsl_worker_shards_computed_total", "counter", "Shard results computed.", float64(m.shards.Load()))
	metric("fsl_worker_compute_seconds_total", "counter", "Seconds spent computing gradients (rate() over fsl_worker_shards_computed_total's is the time per shard).", float64(m.computeNanos.Load())/1e9)
	metric("fsl_worker_params_fetched_total", "counter", "Parameter versions fetched from the coordinator.", float64(m.fetched.Load()))
	metric("fsl_worker_params_fetch_seconds_total", "counter", "Seconds spent fetching parameters.", float64(m.fetchNanos.Load())/1e9)
	metric("fsl_worker_leases_stale_total", "counter", "Leases dropped because their parameter version was gone (the step finished without this worker).", float64(m.stale.Load()))
	metric("fsl_worker_work_requests_total", "counter", "Work requests sent to the coordinator.", float64(m.requests.Load()))
	metric("fsl_worker_waits_total", "counter", "Work requests answered wait (no shard free).", float64(m.waits.Load()))
	metric("fsl_worker_request_failures_total", "counter", "Work requests that failed (coordinator away, timeout) and were retried.", float64(m.failed.Load()))
	metric("fsl_worker_params_version", "gauge", "Parameter version the worker holds; -1 before its first fetch.", float64(m.version.Load()))
	busy := 0.0
	if m.busy.Load() {
		busy = 1
	}
	metric("fsl_worker_busy", "gauge", "1 while the worker holds a lease.", busy)
	fmt.Fprintf(w, "# HELP fsl_build_info Always 1: the worker's version, VCS revision, Go version and compute class.\n# TYPE fsl_build_info gauge\n")
	fmt.Fprintf(w, "fsl_build_info{%s,version=\"%s\",revision=\"%s\",goversion=\"%s\",compute_class=\"%s\"} 1\n",
		labels, escapeLabel(build[0]), escapeLabel(build[1]), escapeLabel(build[2]), escapeLabel(class))
}

// escapeLabel escapes a label value for the text format: backslash,
// double quote and newline.
func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

// buildInfo is the binary's version, VCS revision ("-dirty" when the tree
// had changes; "unknown" when the build recorded none) and Go version.
func buildInfo() [3]string {
	b := [3]string{"unknown", "unknown", runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if bi.Main.Version != "" {
		b[0] = bi.Main.Version
	}
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b[1] = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && b[1] != "unknown" {
		b[1] += "-dirty"
	}
	return b
}
