package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/fsl-project/fsl/model"
	"github.com/fsl-project/fsl/params"
	"github.com/fsl-project/fsl/wire"
	"github.com/fsl-project/fsl/wire/transport"
)

// Config says where a worker finds its job and how it computes. The zero
// value (plus Conn or NATS) works on the CPU for whatever jobs a serving
// coordinator assigns it.
type Config struct {
	// Job pins the worker to one job ID. Empty: the worker asks the
	// coordinator which job to work for (wire.ServeSubjects.Assign), works
	// for it for the assignment's time or until it ends, and asks again
	// (a pool worker); a coordinator of one job (fsl-coord start) assigns
	// its job.
	Job string
	// Conn is an open connection to use; when nil, Run connects to NATS
	// with Connect.
	Conn *transport.Conn
	// NATS is the server URL and Connect the options used when Conn is nil.
	NATS    string
	Connect transport.ConnectOptions
	// Name is the worker's human-readable name (default: host name).
	Name string
	// Threads is the number of threads one step computes on (model.Threads; default 1); results do not depend on it.
	Threads int
	// UseGPU computes on CUDA device GPU (a CUDA build is needed); the zero
	// Config computes on the CPU.
	UseGPU bool
	GPU    int
	// Compute, when set, replaces the model: the worker builds none and
	// fetches no parameters, and sends what Compute returns for each lease.
	// For load tests with fake gradients of a real model's size.
	Compute func(l *wire.Lease) (*wire.Result, error)
	// FetchParams, with Compute, still fetches each lease's parameter
	// version the worker does not hold before calling Compute, as a
	// model's worker does: a load test of the coordinator's parameter
	// fan-out too.
	FetchParams bool
	// RequestTimeout bounds every request to the coordinator (default 10s).
	RequestTimeout time.Duration
	// GiveUpAfter is how long the worker keeps asking without any answer
	// from its job's coordinator, before joining or after, before Run
	// fails with ErrGaveUp: a mistyped job ID, or a coordinator gone for
	// good, then ends the worker instead of keeping it (and its GPU)
	// waiting. Zero or negative: never give up. DefaultGiveUpAfter is the
	// command line's default.
	GiveUpAfter time.Duration
	// Logger receives progress and retries (default slog.Default()).
	Logger *slog.Logger
	// Metrics, when set, counts what the worker does (shards computed,
	// parameters fetched, compute seconds, ...) for a /metrics endpoint.
	Metrics *Metrics
	// Prefetch is how many further shards the worker asks for while it
	// computes one (0 or 1; MaxPrefetch): the next lease, its batch and a
	// parameter version are then on hand when the shard in hand is sent,
	// instead of one round trip later. It pays off for workers that compute
	// several shards of a step (fast workers, many shards): a prefetched
	// shard waits behind the one in hand, and near the end of a step the
	// coordinator may give an idle worker a backup copy of it.
	Prefetch int
}

// MaxPrefetch is Config.Prefetch's upper bound: a coordinator lets one
// worker hold at most 2 leases at once (coordinator.DefaultMaxLeasesPerWorker),
// the shard in hand and one more.
const MaxPrefetch = 1

// DefaultGiveUpAfter is fsl-worker's --give-up-after: long enough for a
// coordinator pod to be rescheduled, attach its volume and resume.
const DefaultGiveUpAfter = 10 * time.Minute

// ErrGaveUp: no coordinator of the job answered for Config.GiveUpAfter.
var ErrGaveUp = errors.New("gave up waiting for the coordinator")

// ErrNoSuchJob: a coordinator answered that the worker's Config.Job is not
// a job it runs (a mistyped --job).
var ErrNoSuchJob = errors.New("no such job")

// jobRefused is ErrNoSuchJob with the coordinator's own words (which name
// the job, and the one it runs).
type jobRefused string

func (e jobRefused) Error() string        { return string(e) + " (check --job)" }
func (e jobRefused) Is(target error) bool { return target == ErrNoSuchJob }

// Stats is what a worker did.
type Stats struct {
	Shards        int // results sent
	ParamsFetched int // parameter versions fetched
	Stale         int // leases dropped because their version was gone
}

// Run works for the job until it is done (nil), ctx is cancelled (nil, after
// finishing and sending the shard in hand: cancel ctx to drain), the
// coordinator asks this worker to drain (nil), or a fatal error (a model the
// binary cannot build). Lost connections and a coordinator that is away are
// not fatal: the worker retries until it comes back.
func Run(ctx context.Context, cfg Config) (Stats, error) {
	w, err := newLoop(cfg)
	if err != nil {
		return Stats{}, err
	}
	defer w.close()
	if cfg.Job == "" {
		return w.runPool(ctx)
	}
	return w.run(ctx)
}

type loop struct {
	cfg   Config
	log   *slog.Logger
	nc    *transport.Conn
	own   bool // nc was opened here
	subj  wire.Subjects
	id    string
	stats Stats

	mopts []model.Option // threads and device of every model this worker builds
	m     *model.Model
	// canary and class of m (model.Canary, model.Class), sent with every
	// work request so the coordinator can refuse another compute class.
	canary, class string
	layout        uint64
	ver           uint64 // version of p and st; valid when have
	lineage       uint64 // their lineage (wire.Lease.Lineage)
	have          bool
	p, st         params.Vector

	beating bool // the heartbeat goroutine runs
	joined  bool // a coordinator of the job has answered a join

	// pool is the state a pool worker keeps across its jobs; nil for a
	// worker pinned to one job. until ends the current assignment (zero:
	// none).
	pool  *pool
	until time.Time

	mu    sync.Mutex
	busy  *wire.Lease // lease in hand, for heartbeats
	epoch uint64      // the coordinator process last heard from (JoinAck, CtlHello)
	heard time.Time   // when a request last got an answer (or the run started)
	// cancels cancel the requests in flight (two with Prefetch: a work
	// request beside a parameter fetch), by the request's number.
	cancels map[uint64]context.CancelCauseFunc
	nreq    uint64
	drain   chan struct{}
	once    sync.Once
}

func newLoop(cfg Config) (*loop, error) {
	if cfg.Threads < 1 {
		cfg.Threads = 1
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	if cfg.Prefetch < 0 || cfg.Prefetch > MaxPrefetch {
		return nil, fmt.Errorf("worker: prefetch %d, want 0 to %d (a coordinator lets a worker hold %d leases at once)",
			cfg.Prefetch, MaxPrefetch, MaxPrefetch+1)
	}
	if cfg.Name == "" {
		cfg.Name, _ = os.Hostname()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	gpu := -1
	if cfg.UseGPU {
		gpu = cfg.GPU
	}
	// the model's compute options; a model on the default config checks
	// them now (a GPU this binary or machine cannot use) rather than at join
	mopts := []model.Option{model.Threads(cfg.Threads), model.GPU(gpu)}
	if _, err := model.New(model.Config{}, mopts...); err != nil {
		return nil, err
	}
	var subj wire.Subjects
	if cfg.Job != "" {
		var err error
		if subj, err = wire.NewSubjects(cfg.Job); err != nil {
			return nil, fmt.Errorf("worker: %w", err)
		}
	}
	var raw [6]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, fmt.Errorf("worker: instance id: %w", err)
	}
	w := &loop{cfg: cfg, subj: subj, id: cfg.Name + "-" + hex.EncodeToString(raw[:]), drain: make(chan struct{})}
	w.log = cfg.Logger.With("worker", w.id)
	if cfg.Job != "" { // a pool worker's sessions name their jobs
		w.log = w.log.With("job", cfg.Job)
	}
	cfg.Metrics.identify(cfg.Job, w.id)
	w.nc = cfg.Conn
	if w.nc == nil {
		opts := cfg.Connect
		if opts.Name == "" {
			opts.Name = w.id
		}
		opts.RetryOnFailedConnect = true
		opts.Logger = cfg.Logger
		var err error
		if w.nc, err = transport.Connect(cfg.NATS, opts); err != nil {
			return nil, fmt.Errorf("worker: connect to %s: %w", cfg.NATS, err)
		}
		w.own = true
	}
	w.mopts = mopts
	return w, nil
}

// gpu is the device index to report: -1 for the CPU.
func (w *loop) gpu() int {
	if w.cfg.UseGPU {
		return w.cfg.GPU
	}
	return -1
}

func (w *loop) close() {
	if w.own {
		w.nc.Close()
	}
}

// errNewCoordinator ends a request when another coordinator process says
// hello: the one asked is gone, and its answer will never come.
var errNewCoordinator = errors.New("a new coordinator started")

// request sends m and waits for the reply, bounded by RequestTimeout, or
// until a new coordinator says hello (errNewCoordinator: ask again at once).
// It deliberately ignores the run's ctx: a draining worker still finishes.
// Requests may run concurrently (a prefetch beside a parameter fetch).
func (w *loop) request(subject string, m wire.Message) (wire.Message, error) {
	base, cancel := context.WithCancelCause(context.Background())
	ctx, stop := context.WithTimeout(base, w.cfg.RequestTimeout)
	defer stop()
	w.mu.Lock()
	if w.cancels == nil {
		w.cancels = make(map[uint64]context.CancelCauseFunc)
	}
	w.nreq++
	id := w.nreq
	w.cancels[id] = cancel
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		delete(w.cancels, id)
		w.mu.Unlock()
		cancel(nil)
	}()
	reply, err := w.nc.Request(ctx, subject, m)
	if answered(err) && context.Cause(base) == nil {
		w.mu.Lock()
		w.heard = time.Now()
		w.mu.Unlock()
	}
	if err != nil && errors.Is(context.Cause(base), errNewCoordinator) {
		return nil, fmt.Errorf("%s request abandoned: %w", m.Type(), errNewCoordinator)
	}
	return reply, err
}

// answered reports whether a request's outcome came from the coordinator:
// a reply, or one of the error replies it sends (a stale version, another
// compute class, ...); a timeout, a subject nobody serves or a lost
// connection is not an answer.
func answered(err error) bool {
	return err == nil || errors.Is(err, wire.ErrStaleVersion) || errors.Is(err, wire.ErrNotFound) ||
		errors.Is(err, wire.ErrWrongClass) || errors.Is(err, wire.ErrRejected)
}

// hello notes the coordinator's epoch; a new one cancels the request in
// flight, which went to a process that is gone.
func (w *loop) hello(epoch uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if epoch == w.epoch {
		return
	}
	w.log.Info("new coordinator", "epoch", fmt.Sprintf("%016x", epoch), "in_flight", len(w.cancels))
	w.epoch = epoch
	for _, cancel := range w.cancels {
		cancel(errNewCoordinator)
	}
}

// pause waits d, or less when ctx ends or a drain comes; false means stop.
func (w *loop) pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-w.drain:
		return false
	}
}

func (w *loop) stopping(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return true
	case <-w.drain:
		return true
	default:
		return false
	}
}

// join announces the worker until the coordinator answers, and builds the
// model the job trains.
func (w *loop) join(ctx context.Context) error {
	backoff := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		reply, err := w.request(w.subj.Join, &wire.Join{Worker: w.cfg.Name, ID: w.id, Threads: w.cfg.Threads, GPU: w.gpu(), Version: "dev"})
		if err == nil {
			ack, ok := reply.(*wire.JoinAck)
			if !ok {
				return fmt.Errorf("worker: join job %q: coordinator replied %s, want join-ack", w.cfg.Job, reply.Type())
			}
			return w.build(ack)
		}
		if errors.Is(err, errNewCoordinator) && !w.stopping(ctx) {
			continue
		}
		// A wrong token or credentials never start to work: say so and stop
		// instead of retrying forever.
		if errors.Is(err, transport.ErrAuthorization) {
			return fmt.Errorf("worker: join job %q: NATS refused this worker's credentials (check --token or --creds): %w", w.cfg.Job, err)
		}
		if errors.Is(err, wire.ErrBanned) {
			return fmt.Errorf("worker: join job %q: %w", w.cfg.Job, err)
		}
		if w.pool != nil && (errors.Is(err, transport.ErrNoResponders) || w.over()) {
			return errSessionOver // the job is gone, or the assignment ended first
		}
		if w.pool == nil && errors.Is(err, transport.ErrNoResponders) && (attempt == 1 || attempt%20 == 0) {
			if err := w.known(); err != nil {
				return err
			}
		}
		if err := w.gaveUp(err); err != nil {
			return err
		}
		if attempt == 1 || attempt%20 == 0 {
			w.log.Info("waiting for the coordinator", "attempt", attempt, "err", err, "gives_up_after", w.cfg.GiveUpAfter.String())
		}
		if !w.pause(ctx, backoff) {
			return ctx.Err()
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// known asks whether a coordinator on the server knows the worker's job
// (it may be queued, not yet running): an error when one answers that it
// does not, nil when it does or none answers.
func (w *loop) known() error {
	cmd, err := wire.NewCommand(wire.AssignRequest{Op: "assign", Worker: w.id, Job: w.cfg.Job})
	if err != nil {
		return err
	}
	_, err = w.request(wire.Serve.Assign, cmd)
	var refusal *wire.Error
	if errors.As(err, &refusal) && errors.Is(err, wire.ErrNotFound) {
		return jobRefused(refusal.Text)
	}
	return nil
}

func (w *loop) build(ack *wire.JoinAck) error {
	w.mu.Lock()
	w.epoch = ack.Epoch
	w.mu.Unlock()
	if w.cfg.Compute != nil {
		// Fake gradients are a class of their own: a job's workers are
		// either all fake or all real.
		w.layout, w.canary, w.class, w.joined = ack.LayoutHash, "compute-func", "Config.Compute", true
		w.startHeartbeat(ack.HeartbeatEvery)
		return nil
	}
	var mc model.Config
	if err := json.Unmarshal(ack.Spec, &mc); err != nil {
		return fmt.Errorf("worker: join job %q: model config from the coordinator: %w", w.cfg.Job, err)
	}
	if w.m != nil && w.m.Config() == mc {
		return nil // rejoined a restarted coordinator of the same job
	}
	if pm, ok := w.pool.model(mc); ok { // a pool worker's model of an earlier job
		if h := pm.m.Layout().Hash(); h != ack.LayoutHash {
			return fmt.Errorf("worker: join job %q: this build lays the model out with hash %016x, the coordinator with %016x (mismatched versions?)", w.cfg.Job, h, ack.LayoutHash)
		}
		w.m, w.layout, w.canary, w.class, w.joined = pm.m, ack.LayoutHash, pm.canary, pm.class, true
		w.log.Debug("joined", "class", w.class)
		w.startHeartbeat(ack.HeartbeatEvery)
		return nil
	}
	w.have = false // parameters of another model
	m, err := model.New(mc, w.mopts...)
	if err != nil {
		return fmt.Errorf("worker: join job %q: %w", w.cfg.Job, err)
	}
	if h := m.Layout().Hash(); h != ack.LayoutHash {
		return fmt.Errorf("worker: join job %q: this build lays the model out with hash %016x, the coordinator with %016x (mismatched versions?)", w.cfg.Job, h, ack.LayoutHash)
	}
	canary, err := m.Canary()
	if err != nil {
		return fmt.Errorf("worker: join job %q: %w", w.cfg.Job, err)
	}
	w.m, w.layout, w.canary, w.class, w.joined = m, ack.LayoutHash, canary, m.Class(), true
	if w.pool != nil {
		w.pool.models[mc] = pooledModel{m: m, canary: canary, class: w.class}
	}
	w.cfg.Metrics.setClass(w.class)
	w.log.Info("joined", "params", m.NumParams(), "lease_timeout", ack.LeaseTimeout, "class", w.class, "canary", canary[:12])
	w.startHeartbeat(ack.HeartbeatEvery)
	return nil
}

// startHeartbeat starts the heartbeat goroutine once per worker; a rejoin
// keeps the running one.
func (w *loop) startHeartbeat(every time.Duration) {
	if every <= 0 || w.beating {
		return
	}
	w.beating = true
	go w.heartbeat(every)
}

func (w *loop) heartbeat(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-w.drain:
			return
		}
		hb := &wire.Heartbeat{Worker: w.id}
		w.mu.Lock()
		if l := w.busy; l != nil {
			hb.Busy, hb.Step, hb.Shard, hb.Attempt = true, l.Step, l.Shard, l.Attempt
		}
		hb.Version = w.ver
		w.mu.Unlock()
		if err := w.nc.Send(w.subj.Heartbeat, hb); err != nil {
			if errors.Is(err, transport.ErrClosed) {
				return
			}
			w.log.Debug("heartbeat", "err", err)
		}
	}
}

func (w *loop) watchCtl() (*transport.Subscription, error) {
	return w.nc.Subscribe(w.subj.Ctl, func(m wire.Message, _ string) {
		c, ok := m.(*wire.Ctl)
		if !ok || (c.Worker != "" && c.Worker != w.id) {
			return
		}
		if c.Kind == wire.CtlHello {
			w.hello(c.Epoch)
			return
		}
		w.log.Info("control message", "kind", c.Kind, "reason", c.Reason)
		if w.pool != nil && c.Kind == wire.CtlDrain {
			w.pool.drained.Store(true) // the worker, not only its session, stops
		}
		w.once.Do(func() { close(w.drain) })
	}, transport.SubscribeOptions{Logger: w.log})
}

func (w *loop) run(ctx context.Context) (Stats, error) {
	sub, err := w.watchCtl()
	if err != nil {
		return w.stats, fmt.Errorf("worker: %w", err)
	}
	defer sub.Unsubscribe() //nolint:errcheck // the connection closes next
	defer w.once.Do(func() { close(w.drain) })
	w.mu.Lock()
	w.heard = time.Now()
	w.mu.Unlock()
	if err := w.join(ctx); err != nil {
		if w.stopping(ctx) || errors.Is(err, errSessionOver) {
			return w.stats, nil
		}
		return w.stats, err
	}
	backoff := 100 * time.Millisecond
	// next is the answer to a work request sent while the shard before
	// was computed (Config.Prefetch); nil when none is out. Every path out
	// of the loop waits for it, bounded by RequestTimeout, and computes
	// the shard it brought: a lease in hand is finished, as on a drain.
	var next chan answer
	defer func() {
		if next == nil {
			return
		}
		if a := <-next; a.err == nil {
			if l, ok := a.reply.(*wire.Lease); ok {
				if err := w.do(l); err != nil {
					w.log.Error("shard dropped", "step", l.Step, "shard", l.Shard, "err", err)
				}
			}
		}
	}()
	for !w.stopping(ctx) && !w.over() {
		var reply wire.Message
		var err error
		if next != nil {
			a := <-next
			next, reply, err = nil, a.reply, a.err
		} else {
			reply, err = w.askWork()
		}
		if errors.Is(err, errNewCoordinator) {
			continue
		}
		if errors.Is(err, wire.ErrWrongClass) || errors.Is(err, wire.ErrBanned) {
			return w.stats, fmt.Errorf("worker: job %q refuses this worker: %w", w.cfg.Job, err)
		}
		if err != nil {
			w.cfg.Metrics.requestFailed()
			w.log.Debug("work request", "err", err)
			if w.pool != nil && errors.Is(err, transport.ErrNoResponders) {
				return w.stats, nil // the job stopped (paused, cancelled): ask for another
			}
			if err := w.gaveUp(err); err != nil {
				return w.stats, err
			}
			if !w.pause(ctx, backoff) {
				break
			}
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		switch r := reply.(type) {
		case *wire.Lease:
			if w.cfg.Prefetch > 0 && !w.stopping(ctx) {
				ch := make(chan answer, 1)
				go func() {
					reply, err := w.askWork()
					ch <- answer{reply, err}
				}()
				next = ch
			}
			if err := w.do(r); err != nil {
				return w.stats, err
			}
		case *wire.Wait:
			w.cfg.Metrics.waited()
			if w.pool != nil {
				return w.stats, nil // nothing here now: perhaps elsewhere
			}
			if !w.pause(ctx, r.RetryAfter) {
				return w.stats, nil
			}
		case *wire.Done:
			w.log.Info("job done", "final_version", r.FinalVersion, "shards", w.stats.Shards)
			return w.stats, nil
		case *wire.JoinAck: // the coordinator restarted and asks us to rejoin
			if err := w.build(r); err != nil {
				return w.stats, err
			}
		default:
			w.log.Warn("unexpected reply to a work request", "type", reply.Type())
		}
	}
	return w.stats, nil
}

// answer is a request's outcome.
type answer struct {
	reply wire.Message
	err   error
}

// askWork sends one work request.
func (w *loop) askWork() (wire.Message, error) {
	w.cfg.Metrics.requested()
	return w.request(w.subj.Work, &wire.WorkRequest{Worker: w.id, Canary: w.canary, Class: w.class})
}

// gaveUp returns an error wrapping ErrGaveUp when no request has been
// answered for GiveUpAfter; last is the latest request's error.
func (w *loop) gaveUp(last error) error {
	if w.cfg.GiveUpAfter <= 0 {
		return nil
	}
	w.mu.Lock()
	silent := time.Since(w.heard)
	w.mu.Unlock()
	if silent < w.cfg.GiveUpAfter {
		return nil
	}
	if w.cfg.Job == "" { // a pool worker, between jobs
		return fmt.Errorf("worker: no coordinator assigned a job for %v (last: %v): %w (--give-up-after)",
			silent.Round(time.Millisecond), last, ErrGaveUp)
	}
	hint := ""
	if errors.Is(last, transport.ErrNoResponders) {
		hint = fmt.Sprintf("; nothing serves job %q on this NATS server: check --job against the coordinator's job ID", w.cfg.Job)
	}
	if !w.joined {
		return fmt.Errorf("worker: job %q: no coordinator answered for %v (last: %v)%s: %w (--give-up-after)",
			w.cfg.Job, silent.Round(time.Millisecond), last, hint, ErrGaveUp)
	}
	return fmt.Errorf("worker: job %q: the coordinator has not answered for %v (last: %v)%s: %w (--give-up-after)",
		w.cfg.Job, silent.Round(time.Millisecond), last, hint, ErrGaveUp)
}

// do works on lease l: a shard it could not finish is logged and dropped
// (the coordinator gives it to another worker), and only a fatal error
// is returned: a batch or parameters this binary's model cannot take.
func (w *loop) do(l *wire.Lease) error {
	err := w.work(l)
	if err == nil || errors.Is(err, model.ErrBatch) || errors.Is(err, model.ErrParams) {
		return err
	}
	w.log.Warn("shard dropped", "step", l.Step, "shard", l.Shard, "err", err)
	return nil
}

// work computes one lease and sends its result.
func (w *loop) work(l *wire.Lease) error {
	w.mu.Lock()
	w.busy = l
	w.mu.Unlock()
	w.cfg.Metrics.setBusy(true)
	defer func() {
		w.mu.Lock()
		w.busy = nil
		w.mu.Unlock()
		w.cfg.Metrics.setBusy(false)
	}()
	res, err := w.compute(l)
	if err != nil || res == nil {
		return err
	}
	res.Worker = w.id
	if res.LayoutHash == 0 {
		res.LayoutHash = w.layout
	}
	if err := w.nc.Send(w.subj.Result, res); err != nil {
		return fmt.Errorf("send result of step %d shard %d: %w", l.Step, l.Shard, err)
	}
	w.stats.Shards++
	return nil
}

// compute returns the result of one lease: from Config.Compute when set,
// else from the model at the lease's parameter version, fetched when this
// worker does not hold it (with Config.Compute too when FetchParams). A nil result without error means the version is
// gone (the step finished without us): nothing to send.
func (w *loop) compute(l *wire.Lease) (*wire.Result, error) {
	fetch := w.cfg.Compute == nil || w.cfg.FetchParams
	if fetch && (!w.have || w.ver != l.Version || w.lineage != l.Lineage) {
		start := time.Now()
		reply, err := w.request(w.subj.Params, &wire.ParamsRequest{Version: l.Version, Lineage: l.Lineage})
		if errors.Is(err, wire.ErrStaleVersion) {
			w.stats.Stale++
			w.cfg.Metrics.staleLease()
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("fetch parameters of version %d: %w", l.Version, err)
		}
		pm, ok := reply.(*wire.Params)
		if !ok || pm.Version != l.Version || pm.Lineage != l.Lineage || pm.LayoutHash != w.layout {
			return nil, fmt.Errorf("fetch parameters of version %d: got %s", l.Version, reply.Type())
		}
		w.mu.Lock()
		w.p, w.st, w.ver, w.lineage, w.have = pm.Params, pm.State, pm.Version, pm.Lineage, true
		w.mu.Unlock()
		w.stats.ParamsFetched++
		w.cfg.Metrics.fetchedParams(pm.Version, time.Since(start))
	}
	if w.cfg.Compute != nil {
		return w.cfg.Compute(l)
	}
	start := time.Now()
	res, err := Compute(w.m, w.p, w.st, l)
	if err == nil {
		w.cfg.Metrics.computed(time.Since(start))
	}
	return res, err
}
