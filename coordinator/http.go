package coordinator

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsl-project/fsl/checkpoints"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Monitor watches one job for the coordinator's HTTP server. It is the
// driver's Observer (feeding Metrics and History; it never blocks the
// driver) and reads the job's status at request time once attached:
//
//	mon := coordinator.NewMonitor(spec.ID)
//	srv, _ := coordinator.ListenHTTP("127.0.0.1:8080", mon.Handler(), log)
//	d, _ := coordinator.NewDriver(coordinator.DriverConfig{..., Observer: mon})
//	mon.Attach(d.Status)
//	d.Run(ctx)
//
// Before Attach, /healthz answers (the process is alive) while /readyz and
// /status answer 503: the job is still opening its dataset and store.
type Monitor struct {
	job     string
	opts    monitorOptions
	metrics *Metrics
	history *History
	reg     *prometheus.Registry
	status  atomic.Pointer[func() JobStatus]
	eval    atomic.Pointer[[]Evaluation]

	ckptMu   sync.Mutex // guards the checkpoint list's cache
	ckptAt   time.Time
	ckptList []CheckpointInfo
	ckptErr  error
}

// Evaluation is one figure of a final evaluation, as the dashboard shows
// it: accuracy ± the half-width of its 95% confidence interval under a
// named protocol.
type Evaluation struct {
	Protocol string  `json:"protocol"` // e.g. "5-way 1-shot, 600 episodes, held-out classes"
	Step     int     `json:"step"`     // the checkpoint evaluated
	Accuracy float64 `json:"accuracy"`
	CI95     float64 `json:"ci95"`
}

// CheckpointInfo is one stored checkpoint as /checkpoints lists it.
type CheckpointInfo struct {
	Step    uint64             `json:"step"`
	Created time.Time          `json:"created"`
	Metrics map[string]float64 `json:"metrics"`
	Best    bool               `json:"best"`
	Bytes   int                `json:"bytes"`
}

// MonitorOption configures a Monitor.
type MonitorOption func(*monitorOptions)

type monitorOptions struct {
	db            string
	historyPoints int
	maxWorkers    int
	runtime       bool
	pprof         bool
	token         string
}

// WithStore names the job's checkpoint store: Attach restores the
// dashboard's history from it (checkpoints.Store.History, written by a
// HistoryRecorder), so a resumed job's curves start at step 1, and
// /checkpoints lists its checkpoints. The store is opened read-only for
// each read, between the driver's writes.
func WithStore(path string) MonitorOption {
	return func(o *monitorOptions) { o.db = path }
}

// WithPprof serves Go's profiles under /debug/pprof/ (404 without it):
// they reveal the process's memory and code paths, so they are off unless
// asked for.
func WithPprof() MonitorOption {
	return func(o *monitorOptions) { o.pprof = true }
}

// WithBearerToken makes every endpoint but /metrics, /healthz and /readyz
// (the ones Prometheus and probes read) answer 401 unless the request
// carries "Authorization: Bearer token". An empty token leaves them open.
func WithBearerToken(token string) MonitorOption {
	return func(o *monitorOptions) { o.token = token }
}

// WithHistoryPoints bounds each series of the dashboard's history
// (default DefaultHistoryPoints).
func WithHistoryPoints(n int) MonitorOption {
	return func(o *monitorOptions) { o.historyPoints = n }
}

// WithMaxWorkerSeries bounds the workers that get per-worker series in
// /metrics (default DefaultMaxWorkerSeries).
func WithMaxWorkerSeries(n int) MonitorOption {
	return func(o *monitorOptions) { o.maxWorkers = n }
}

// WithoutRuntimeMetrics leaves the Go runtime and process collectors out of
// /metrics (they are in by default).
func WithoutRuntimeMetrics() MonitorOption {
	return func(o *monitorOptions) { o.runtime = false }
}

// NewMonitor returns a monitor of job with its own Prometheus registry (no
// global state).
func NewMonitor(job string, opts ...MonitorOption) *Monitor {
	o := monitorOptions{runtime: true}
	for _, f := range opts {
		f(&o)
	}
	m := &Monitor{job: job, opts: o, metrics: NewMetrics(job, o.maxWorkers), history: NewHistory(o.historyPoints), reg: prometheus.NewRegistry()}
	m.reg.MustRegister(m.metrics)
	if o.runtime {
		m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return m
}

// Attach makes the monitor serve status (typically Driver.Status), which
// must be safe to call from any goroutine. With WithStore it first
// restores the history stored before this process; call it after the
// driver opened the store and before it runs. A store it cannot read is
// logged, not fatal: the dashboard then starts with this process.
func (m *Monitor) Attach(status func() JobStatus) {
	if m.opts.db != "" {
		err := m.readStore(func(s *checkpoints.Store) error {
			recs, err := s.History(m.job)
			m.history.Restore(recs)
			return err
		})
		if err != nil && !errors.Is(err, checkpoints.ErrNotFound) {
			slog.Warn("dashboard history not restored", "job", m.job, "err", err)
		}
	}
	m.status.Store(&status)
	m.metrics.Attach(status)
}

// SetEvaluation shows final evaluation figures on the dashboard
// (/evaluation).
func (m *Monitor) SetEvaluation(e []Evaluation) {
	e = slices.Clone(e)
	m.eval.Store(&e)
}

// readStore runs fn on the job's store opened read-only for the call.
func (m *Monitor) readStore(fn func(*checkpoints.Store) error) error {
	s, err := checkpoints.Open(m.opts.db, checkpoints.WithReadOnly(), checkpoints.WithReleaseBetweenWrites())
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(s)
}

// checkpointsTTL is how long /checkpoints answers from its last read of the
// store: a dashboard polling every second costs a file open per TTL.
const checkpointsTTL = 2 * time.Second

// checkpoints lists the job's stored checkpoints, oldest first.
func (m *Monitor) checkpoints() ([]CheckpointInfo, error) {
	m.ckptMu.Lock()
	defer m.ckptMu.Unlock()
	if !m.ckptAt.IsZero() && time.Since(m.ckptAt) < checkpointsTTL {
		return m.ckptList, m.ckptErr
	}
	var list []CheckpointInfo
	err := m.readStore(func(s *checkpoints.Store) error {
		infos, err := s.List(m.job)
		for _, in := range infos {
			list = append(list, CheckpointInfo{Step: in.Step, Created: in.Created, Metrics: finiteMetrics(in.Metrics), Best: in.Best, Bytes: in.Bytes})
		}
		return err
	})
	if list == nil {
		list = []CheckpointInfo{}
	}
	m.ckptAt, m.ckptList, m.ckptErr = time.Now(), list, err
	return list, err
}

// Metrics returns the monitor's Prometheus metrics.
func (m *Monitor) Metrics() *Metrics { return m.metrics }

// History returns the monitor's dashboard series.
func (m *Monitor) History() *History { return m.history }

// Registry returns the registry /metrics serves, to add collectors to.
func (m *Monitor) Registry() *prometheus.Registry { return m.reg }

// StepApplied implements Observer.
func (m *Monitor) StepApplied(p Progress) {
	m.metrics.StepApplied(p)
	m.history.StepApplied(p)
}

// Checkpointed implements Observer.
func (m *Monitor) Checkpointed(step int, took time.Duration) {
	m.metrics.Checkpointed(step, took)
	m.history.Checkpointed(step, took)
}

// Validated implements Observer.
func (m *Monitor) Validated(step int, metrics map[string]float64) {
	m.metrics.Validated(step, metrics)
	m.history.Validated(step, metrics)
}

// MetricsSet is a serving coordinator's one /metrics for all its jobs: the
// metrics of every monitor added (each job's series carry its fsl_job
// label) and the Go runtime and process collectors once. Give the monitors
// WithoutRuntimeMetrics, or their runtime series would collide.
type MetricsSet struct{ reg *prometheus.Registry }

// NewMetricsSet returns a set with the runtime collectors and no job.
func NewMetricsSet() *MetricsSet {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &MetricsSet{reg: reg}
}

// Add serves m's job metrics from now on.
func (s *MetricsSet) Add(m *Monitor) error {
	if err := s.reg.Register(m.metrics); err != nil {
		return fmt.Errorf("metrics of job %s: %w", m.job, err)
	}
	return nil
}

// Handler serves the set in Prometheus text format.
func (s *MetricsSet) Handler() http.Handler {
	return promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Handler serves
//
//	GET /            the dashboard (and its assets under /dashboard/)
//	GET /metrics     Prometheus text format
//	GET /healthz     200 while the process serves (liveness)
//	GET /readyz      200 once the job is attached, 503 before (readiness)
//	GET /status      the job's JobStatus as JSON (503 before Attach)
//	GET /history     the dashboard's HistorySnapshot as JSON
//	GET /checkpoints the stored checkpoints ([]CheckpointInfo; WithStore)
//	GET /evaluation  the final evaluation figures ([]Evaluation; empty until SetEvaluation)
//	GET /debug/pprof/ Go's profiles (net/http/pprof): where a slow run's CPU goes;
//	                 404 unless WithPprof
//
// With WithBearerToken, all but /metrics, /healthz and /readyz need the
// token.
func (m *Monitor) Handler() http.Handler {
	mux := http.NewServeMux()
	open := http.NewServeMux() // what needs no token
	open.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	open.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	open.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if m.status.Load() == nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "job %s is starting\n", m.job)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		f := m.status.Load()
		if f == nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "job " + m.job + " is starting"})
			return
		}
		writeJSON(w, http.StatusOK, statusView((*f)()))
	})
	mux.HandleFunc("GET /history", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, m.history.Snapshot())
	})
	mux.HandleFunc("GET /checkpoints", func(w http.ResponseWriter, _ *http.Request) {
		if m.opts.db == "" {
			writeJSON(w, http.StatusOK, []CheckpointInfo{})
			return
		}
		list, err := m.checkpoints()
		if err != nil && !errors.Is(err, checkpoints.ErrNotFound) {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, list)
	})
	mux.HandleFunc("GET /evaluation", func(w http.ResponseWriter, _ *http.Request) {
		e := []Evaluation{}
		if p := m.eval.Load(); p != nil {
			e = *p
		}
		writeJSON(w, http.StatusOK, e)
	})
	assets := http.FileServerFS(DashboardFS())
	mux.Handle("GET /dashboard/", http.StripPrefix("/dashboard/", assets))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, DashboardFS(), "index.html")
	})
	if m.opts.pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	guarded := RequireBearer(m.opts.token, mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/metrics", "/healthz", "/readyz":
			open.ServeHTTP(w, r)
		default:
			guarded.ServeHTTP(w, r)
		}
	})
}

// RequireBearer answers 401 to requests without "Authorization: Bearer
// token"; an empty token lets every request through.
func RequireBearer(token string, h http.Handler) http.Handler {
	if token == "" {
		return h
	}
	want := []byte(token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		// constant time: the comparison must not tell how much of a guess was right
		if !ok || subtle.ConstantTimeCompare([]byte(got), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="fsl"`)
			http.Error(w, "401 unauthorized: this endpoint needs Authorization: Bearer <--http-token>", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// statusJSON is JobStatus as /status serves it: JSON has no NaN or Inf, so
// a diverged loss is null and non-finite validation metrics are left out.
type statusJSON struct {
	JobStatus
	Loss       *float64           `json:"loss"`
	Validation map[string]float64 `json:"validation,omitempty"`
}

func statusView(st JobStatus) statusJSON {
	return statusJSON{JobStatus: st, Loss: finite(st.Loss), Validation: finiteMetrics(st.Validation)}
}

// finite returns &f, or nil when f is NaN or infinite.
func finite(f float64) *float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return &f
}

// finiteMetrics returns m without its non-finite values (m itself when all
// are finite).
func finiteMetrics(m map[string]float64) map[string]float64 {
	for _, v := range m {
		if finite(v) == nil {
			out := make(map[string]float64, len(m))
			for k, v := range m {
				if finite(v) != nil {
					out[k] = v
				}
			}
			return out
		}
	}
	return m
}

// writeJSON answers v as JSON with code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(append(b, '\n')) //nolint:errcheck // the client went away
}

// HTTPServer is a running HTTP server; see ListenHTTP.
type HTTPServer struct {
	srv  *http.Server
	ln   net.Listener
	done chan error
}

// ListenHTTP listens on addr ("host:port"; port 0 picks a free one) and
// serves h until Shutdown. Errors after the listen succeeded are logged.
func ListenHTTP(addr string, h http.Handler, log *slog.Logger) (*HTTPServer, error) {
	if log == nil {
		log = slog.Default()
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http listen %s: %w", addr, err)
	}
	s := &HTTPServer{
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 5 * time.Second,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
		ln:   ln,
		done: make(chan error, 1),
	}
	go func() {
		err := s.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		if err != nil {
			log.Error("http server", "addr", addr, "err", err)
		}
		s.done <- err
	}()
	return s, nil
}

// Addr is the address the server listens on (the real port when addr had
// port 0).
func (s *HTTPServer) Addr() string { return s.ln.Addr().String() }

// URL is the server's base URL, e.g. http://127.0.0.1:8080.
func (s *HTTPServer) URL() string { return "http://" + s.Addr() }

// Shutdown stops accepting connections and waits, until ctx ends, for
// requests in flight; then it closes the rest.
func (s *HTTPServer) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close() //nolint:errcheck // already failing
	}
	if serr := <-s.done; err == nil {
		err = serr
	}
	return err
}
