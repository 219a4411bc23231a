package coordinator

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/fsl-project/fsl/checkpoints"
	"github.com/fsl-project/fsl/params"
	"github.com/fsl-project/fsl/wire"
	"github.com/fsl-project/fsl/wire/transport"
)

// ServerConfig is a serving coordinator (fsl-coord serve): one process, one
// store and one pool of workers for a queue of jobs.
type ServerConfig struct {
	// DB is the store of the queue and of every job's checkpoints.
	DB string
	// Conn is the connection the server and its jobs are served on.
	Conn *transport.Conn
	// Logger receives the server's and its jobs' events.
	Logger *slog.Logger
	// MaxRunning is how many jobs run at once (default DefaultMaxRunning);
	// the rest wait in the queue.
	MaxRunning int
	// Quantum is how long an assignment of a pool worker lasts before it
	// asks again (default DefaultQuantum): the grain of fair share, and the
	// longest a higher-priority job waits for a worker.
	Quantum time.Duration
	// Validator, when set, gives a job's DriverConfig.Validate.
	Validator func(JobSpec) (func(int, params.Vector, params.Vector) (map[string]float64, error), error)
	// EvalWork, when set, gives each job's DriverConfig.EvalWork: the
	// evaluation of its eval: block, run on the workers when it ends; its
	// metrics are the job's outcome.
	EvalWork func(JobSpec) func(version int, p, state params.Vector) (EvalWork, error)
	// Observer, when set, gives each job's observer (a dashboard's).
	Observer func(JobSpec) Observer
	// Started, when set, is told of each job's driver before it runs.
	Started func(id string, d *Driver)
	// TickEvery is how often the queue is looked at (default 200ms).
	TickEvery time.Duration
	// Driver holds the settings every job's DriverConfig gets (HoldWork,
	// Linger, ...); its Spec, DB, Conn, Logger, Observer and Validate are
	// the server's.
	Driver DriverConfig
}

// Defaults of a serving coordinator.
const (
	DefaultMaxRunning = 4
	DefaultQuantum    = 2 * time.Second
)

// Server runs a queue of jobs: see NewServer.
type Server struct {
	cfg   ServerConfig
	log   *slog.Logger
	store *checkpoints.Store

	mu    sync.Mutex
	jobs  map[string]*served
	seq   uint64
	where map[string]assignment // each pool worker's current assignment
	wake  chan struct{}
	wg    sync.WaitGroup // the jobs' goroutines
	stop  bool           // Run is returning: start nothing
}

// served is a job of the queue and, while it runs, its driver.
type served struct {
	QueuedJob
	driver  *Driver
	running bool // its goroutine runs (building or running the driver)
	cancel  context.CancelFunc
	// stopAs is why its driver was cancelled: StatePaused or
	// StateCancelled; "" when the server shuts down (it stays running in
	// the store and resumes with the next process).
	stopAs JobState
}

type assignment struct {
	job   string
	until time.Time
}

// NewServer opens the store and loads its queue. Jobs that were running
// when the last process ended run again first, each from its newest
// checkpoint.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Conn == nil {
		return nil, errors.New("coordinator: serve: no NATS connection")
	}
	if cfg.DB == "" {
		return nil, errors.New("coordinator: serve: no store path (--db)")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxRunning <= 0 {
		cfg.MaxRunning = DefaultMaxRunning
	}
	if cfg.Quantum <= 0 {
		cfg.Quantum = DefaultQuantum
	}
	if cfg.TickEvery <= 0 {
		cfg.TickEvery = 200 * time.Millisecond
	}
	s := &Server{cfg: cfg, log: cfg.Logger, jobs: map[string]*served{}, where: map[string]assignment{}, wake: make(chan struct{}, 1)}
	var err error
	if s.store, err = checkpoints.Open(cfg.DB, checkpoints.WithReleaseBetweenWrites(), checkpoints.WithLogger(cfg.Logger)); err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	entries, err := s.store.QueueEntries()
	if err != nil {
		s.store.Close()
		return nil, fmt.Errorf("serve: %w", err)
	}
	for _, e := range entries {
		q, err := decodeQueuedJob(e.ID, e.Body)
		if err != nil {
			s.log.Warn("skipping a queue entry that does not decode", "store", cfg.DB, "err", err)
			continue
		}
		s.jobs[q.ID] = &served{QueuedJob: q}
		s.seq = max(s.seq, q.Seq)
	}
	return s, nil
}

// Run serves the queue until ctx ends, then stops every running job (each
// writes a checkpoint) and returns once they have stopped.
func (s *Server) Run(ctx context.Context) error {
	defer s.store.Close()
	var subs []*transport.Subscription
	defer func() {
		for _, sub := range subs {
			sub.Unsubscribe() //nolint:errcheck // shutting down
		}
	}()
	for subject, h := range map[string]func(wire.Message) wire.Message{
		wire.Serve.Assign: s.handleAssign, wire.Serve.Jobs: s.handleJobs, wire.Serve.Admin: s.handleAdmin,
	} {
		sub, err := s.cfg.Conn.Subscribe(subject, func(m wire.Message, reply string) {
			if reply == "" {
				return
			}
			if err := s.cfg.Conn.Send(reply, h(m)); err != nil {
				s.log.Warn("serve: reply", "subject", subject, "err", err)
			}
		}, transport.SubscribeOptions{Logger: s.log})
		if err != nil {
			return fmt.Errorf("serve: subscribe %s: %w", subject, err)
		}
		subs = append(subs, sub)
	}
	if err := s.cfg.Conn.Flush(); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	tick := time.NewTicker(s.cfg.TickEvery)
	defer tick.Stop()
	for {
		s.schedule(ctx)
		select {
		case <-ctx.Done():
			s.mu.Lock()
			s.stop = true
			for _, j := range s.jobs {
				if j.cancel != nil {
					j.cancel()
				}
			}
			s.mu.Unlock()
			s.wg.Wait()
			return nil
		case <-tick.C:
		case <-s.wake:
		}
	}
}

// poke wakes the scheduler.
func (s *Server) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// schedule starts the jobs that should run: those the store says run (a
// restarted server's) and queued ones while fewer than MaxRunning run.
func (s *Server) schedule(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stop {
		return
	}
	running := 0
	var queued []*QueuedJob
	for _, j := range s.jobs {
		switch j.State {
		case StateRunning:
			running++
			if !j.running {
				s.launch(ctx, j)
			}
		case StateQueued:
			queued = append(queued, &j.QueuedJob)
		}
	}
	for _, q := range admit(queued, running, s.cfg.MaxRunning) {
		j := s.jobs[q.ID]
		j.State, j.Started = StateRunning, time.Now()
		s.persist(j)
		s.launch(ctx, j)
	}
}

// launch runs j's driver on a goroutine of its own. s.mu is held.
func (s *Server) launch(ctx context.Context, j *served) {
	jctx, cancel := context.WithCancel(ctx)
	j.running, j.cancel, j.stopAs = true, cancel, ""
	spec := j.Spec
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer cancel()
		sum, err := s.runJob(jctx, spec)
		s.finish(ctx, spec, sum, err)
	}()
}

// runJob builds and runs one job's driver.
func (s *Server) runJob(ctx context.Context, spec JobSpec) (*Summary, error) {
	log := s.log.With("job", spec.ID)
	dc := s.cfg.Driver
	dc.Spec, dc.DB, dc.Conn, dc.Logger = spec, s.cfg.DB, s.cfg.Conn, s.log
	if s.cfg.EvalWork != nil {
		dc.EvalWork = s.cfg.EvalWork(spec)
	}
	if s.cfg.Validator != nil {
		v, err := s.cfg.Validator(spec)
		if err != nil {
			return nil, err
		}
		dc.Validate = v
	}
	if s.cfg.Observer != nil {
		dc.Observer = s.cfg.Observer(spec)
	}
	return RunRecorded(ctx, dc, func(d *Driver) {
		s.mu.Lock()
		if j := s.jobs[spec.ID]; j != nil {
			j.driver = d
		}
		s.mu.Unlock()
		if s.cfg.Started != nil {
			s.cfg.Started(spec.ID, d)
		}
		log.Info("job running", "steps", spec.Steps, "resumed_from", d.tr.Version)
	})
}

// finish records how a job's driver ended: done (then evaluated), paused,
// cancelled, failed, or still running when the server itself stops.
func (s *Server) finish(ctx context.Context, spec JobSpec, sum *Summary, err error) {
	var out *JobOutcome
	if err == nil && sum != nil {
		out = &JobOutcome{Version: sum.Version, Loss: sum.Loss, ParamsSHA256: sum.ParamsSHA256, StoppedEarly: sum.StoppedEarly, Metrics: sum.Eval}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.poke()
	j := s.jobs[spec.ID]
	if j == nil { // removed while it ran: nothing to record
		return
	}
	j.running, j.driver, j.cancel = false, nil, nil
	switch {
	case err == nil:
		j.State, j.Outcome, j.Error = StateDone, out, ""
		s.log.Info("job done", "job", spec.ID, "version", out.Version, "params_sha256", out.ParamsSHA256)
	case errors.Is(err, context.Canceled) && j.stopAs != "":
		j.State = j.stopAs
		s.log.Info("job stopped", "job", spec.ID, "state", j.State)
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return // the server stops: the job stays running in the store
	default:
		j.State, j.Error = StateFailed, err.Error()
		s.log.Error("job failed", "job", spec.ID, "err", err)
	}
	if j.State.Final() {
		j.Ended = time.Now()
	}
	s.persist(j)
}

// persist writes j's queue entry. s.mu is held.
func (s *Server) persist(j *served) {
	b, err := json.Marshal(j.QueuedJob)
	if err == nil {
		err = s.store.PutQueueEntry(j.ID, b)
	}
	if err != nil {
		s.log.Error("serve: store the queue entry", "job", j.ID, "err", err)
	}
}

// handleAssign answers a pool worker: the job it works for next.
func (s *Server) handleAssign(m wire.Message) wire.Message {
	var req wire.AssignRequest
	if err := decodeCommand(m, &req); err != nil {
		return badRequest(err)
	}
	if req.Worker == "" {
		return badRequest(errors.New("assign: no worker ID"))
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if req.Job != "" {
		if s.jobs[req.Job] == nil {
			return &wire.Error{Code: wire.CodeNotFound, Text: s.unknown(req.Job).Error()}
		}
		return statusOf(wire.Assignment{Job: req.Job})
	}
	delete(s.where, req.Worker)
	assigned := map[string]int{}
	for w, a := range s.where {
		if now.After(a.until) {
			delete(s.where, w)
			continue
		}
		assigned[a.job]++
	}
	var cs []candidate
	for _, j := range s.jobs {
		if j.State != StateRunning || j.driver == nil || slices.Contains(req.Avoid, j.ID) {
			continue
		}
		st := j.driver.Status()
		if st.Done || (st.Step >= st.Steps && !st.Evaluating) {
			continue // ending: its last step is applied, and no evaluation follows
		}
		limit := j.Spec.Shards
		if j.Spec.Verify > 0 {
			limit++ // a verified shard's second copy needs another worker
		}
		if st.Evaluating {
			limit = len(st.Status.Shards)
		}
		if j.MaxWorkers > 0 {
			limit = min(limit, j.MaxWorkers)
		}
		cs = append(cs, candidate{id: j.ID, priority: j.Priority, weight: j.Weight, limit: limit,
			assigned: assigned[j.ID], applied: st.Status.Counters.Applied, seq: j.Seq})
	}
	id, ok := pick(cs)
	if !ok {
		reason := "no job is running"
		if len(cs) > 0 {
			reason = "every running job has all the workers it can use"
		}
		return &wire.Wait{RetryAfter: 500 * time.Millisecond, Reason: reason}
	}
	s.where[req.Worker] = assignment{job: id, until: now.Add(s.cfg.Quantum)}
	return statusOf(wire.Assignment{Job: id, For: s.cfg.Quantum})
}

// JobInfo is one job as `fsl-coord jobs` shows it: its queue entry and,
// while it runs, its progress.
type JobInfo struct {
	QueuedJob
	Step  int `json:"step"`
	Steps int `json:"steps"`
	// Workers is how many pool workers are assigned to it now.
	Workers int `json:"workers"`
	// Applied counts its shards applied since it started in this process:
	// its share of the pool's work.
	Applied int `json:"applied_shards"`
}

// Jobs returns every job of the queue, in submission order.
func (s *Server) Jobs() []JobInfo {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	workers := map[string]int{}
	for _, a := range s.where {
		if !now.After(a.until) {
			workers[a.job]++
		}
	}
	out := make([]JobInfo, 0, len(s.jobs))
	for _, j := range s.jobs {
		in := InfoOf(j.QueuedJob)
		in.Workers = workers[j.ID]
		if j.driver != nil {
			st := j.driver.Status()
			in.Step, in.Applied = st.Step, st.Status.Counters.Applied
		}
		out = append(out, in)
	}
	slices.SortFunc(out, func(a, b JobInfo) int { return cmp.Compare(a.Seq, b.Seq) })
	return out
}

// InfoOf is q as `fsl-coord jobs` shows a job not running in this
// process: its step is its outcome's, if it has one.
func InfoOf(q QueuedJob) JobInfo {
	in := JobInfo{QueuedJob: q, Steps: q.Spec.Steps}
	if q.Outcome != nil {
		in.Step = q.Outcome.Version
	}
	return in
}

// JobsRequest is a Command body on ServeSubjects.Jobs: "ls" (every job) or
// "show" (the job ID).
type JobsRequest struct {
	Op string `json:"op"`
	ID string `json:"id,omitempty"`
}

// AdminRequest is a Command body on ServeSubjects.Admin: "submit" (Jobs),
// or "cancel", "pause", "resume", "rm" or "purge" (rm, and delete the
// job's checkpoints and history from the store) of the job ID.
type AdminRequest struct {
	Op   string      `json:"op"`
	ID   string      `json:"id,omitempty"`
	Jobs []Submitted `json:"jobs,omitempty"`
}

// Submitted is one job of a submission (one point of a sweep).
type Submitted struct {
	Spec       JobSpec           `json:"spec"`
	Name       string            `json:"name,omitempty"`
	Params     map[string]string `json:"params,omitempty"`
	Priority   int               `json:"priority,omitempty"`
	Weight     float64           `json:"weight,omitempty"`
	MaxWorkers int               `json:"max_workers,omitempty"`
}

func (s *Server) handleJobs(m wire.Message) wire.Message {
	var req JobsRequest
	if err := decodeCommand(m, &req); err != nil {
		return badRequest(err)
	}
	return replyOf(s.Query(req))
}

func (s *Server) handleAdmin(m wire.Message) wire.Message {
	var req AdminRequest
	if err := decodeCommand(m, &req); err != nil {
		return badRequest(err)
	}
	return replyOf(s.Admin(req))
}

// replyOf is the wire reply of a Query or Admin outcome.
func replyOf(v any, err error) wire.Message {
	switch {
	case err == nil:
		return statusOf(v)
	case errors.Is(err, ErrUnknownJob):
		return &wire.Error{Code: wire.CodeNotFound, Text: err.Error()}
	}
	return badRequest(err)
}

// Query answers a JobsRequest (on wire.Serve.Jobs or over HTTP): every
// job (ls) or one (show). An unknown job's error wraps ErrUnknownJob.
func (s *Server) Query(req JobsRequest) (any, error) {
	switch req.Op {
	case "ls":
		return s.Jobs(), nil
	case "show":
		for _, j := range s.Jobs() {
			if j.ID == req.ID {
				return j, nil
			}
		}
		return nil, s.unknown(req.ID)
	}
	return nil, fmt.Errorf("jobs: unknown op %q (want ls or show)", req.Op)
}

// Admin carries out an AdminRequest (on wire.Serve.Admin or over HTTP):
// the IDs of the jobs submitted, or the ID of the job changed.
func (s *Server) Admin(req AdminRequest) (any, error) {
	switch req.Op {
	case "submit":
		return s.Submit(req.Jobs)
	case "cancel", "pause", "resume", "rm", "purge":
		if err := s.Change(req.Op, req.ID); err != nil {
			return nil, err
		}
		return req.ID, nil
	}
	return nil, fmt.Errorf("unknown op %q (want submit, cancel, pause, resume, rm or purge)", req.Op)
}

// ErrUnknownJob: the queue holds no job of that ID.
var ErrUnknownJob = errors.New("no such job")

// unknown is the error for a job ID the queue does not hold.
func (s *Server) unknown(id string) error {
	return fmt.Errorf("job %q: %w in the queue of %s (fsl-coord jobs ls lists them)", id, ErrUnknownJob, s.cfg.DB)
}

// Submit validates every job and queues them all, or none; it returns
// their IDs.
func (s *Server) Submit(jobs []Submitted) ([]string, error) {
	if len(jobs) == 0 {
		return nil, errors.New("submit: no job")
	}
	stored, err := s.store.Jobs()
	if err != nil {
		return nil, fmt.Errorf("submit: %w", err)
	}
	inStore := map[string]bool{}
	for _, r := range stored {
		inStore[r.ID] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	for i := range jobs {
		sub := &jobs[i]
		sub.Spec = sub.Spec.WithDefaults()
		id := sub.Spec.ID
		if err := sub.Spec.Validate(); err != nil {
			return nil, fmt.Errorf("submit job %q: %w", id, err)
		}
		if err := sub.Spec.CheckSplits(); err != nil {
			return nil, fmt.Errorf("submit job %q: %w", id, err)
		}
		if sub.Weight < 0 || sub.MaxWorkers < 0 {
			return nil, fmt.Errorf("submit job %q: weight %v and max workers %d must not be negative", id, sub.Weight, sub.MaxWorkers)
		}
		if s.jobs[id] != nil || seen[id] {
			return nil, fmt.Errorf("submit job %q: a job of that ID is already queued (fsl-coord jobs rm %s, or another --name)", id, id)
		}
		if inStore[id] {
			return nil, fmt.Errorf("submit job %q: the store %s already holds checkpoints of a job of that ID (give another --name, or delete them: fsl-coord jobs purge %s, or fsl-coord checkpoints rm --job %s with the coordinator stopped)", id, s.cfg.DB, id, id)
		}
		seen[id] = true
	}
	ids := make([]string, len(jobs))
	now := time.Now()
	for i, sub := range jobs {
		s.seq++
		w := sub.Weight
		if w == 0 {
			w = 1
		}
		j := &served{QueuedJob: QueuedJob{ID: sub.Spec.ID, Name: sub.Name, Params: sub.Params, Seq: s.seq, Priority: sub.Priority,
			Weight: w, MaxWorkers: sub.MaxWorkers, State: StateQueued, Spec: sub.Spec, Submitted: now}}
		s.jobs[j.ID] = j
		s.persist(j)
		ids[i] = j.ID
		s.log.Info("job queued", "job", j.ID, "priority", j.Priority, "name", j.Name)
	}
	s.poke()
	return ids, nil
}

// Change cancels, pauses, resumes or removes (op "rm") the job id; op
// "purge" removes it and deletes its checkpoints and history from the
// store, so its ID may be submitted again.
func (s *Server) Change(op, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs[id]
	if j == nil {
		return s.unknown(id)
	}
	refuse := func() error { return fmt.Errorf("%s job %q: it is %s", op, id, j.State) }
	switch op {
	case "cancel", "pause":
		to := StateCancelled
		if op == "pause" {
			to = StatePaused
		}
		switch {
		case j.State.Final(), j.State == to:
			return refuse()
		case j.running:
			j.stopAs = to
			j.cancel() // the driver checkpoints and stops; finish records it
		default:
			j.State = to
			if to.Final() {
				j.Ended = time.Now()
			}
			s.persist(j)
		}
	case "resume":
		if j.State != StatePaused {
			return refuse()
		}
		if j.running { // still stopping: it resumes when it has stopped
			j.stopAs = StateQueued
			return nil
		}
		j.State = StateQueued
		s.persist(j)
	case "rm", "purge":
		if j.running || j.State == StateRunning {
			return fmt.Errorf("%s job %q: it is running (fsl-coord jobs cancel %s first)", op, id, id)
		}
		if op == "purge" {
			n, err := s.store.DeleteJob(id)
			if err != nil {
				return err
			}
			s.log.Info("job purged", "job", id, "checkpoints", n)
		} else if err := s.store.DeleteQueueEntry(id); err != nil {
			return err
		}
		delete(s.jobs, id)
	default:
		return fmt.Errorf("unknown op %q", op)
	}
	s.log.Info("job changed", "job", id, "op", op)
	s.poke()
	return nil
}

// decodeCommand reads a Command's JSON body into v.
func decodeCommand(m wire.Message, v any) error {
	c, ok := m.(*wire.Command)
	if !ok {
		return fmt.Errorf("got %s, want command", m.Type())
	}
	if err := json.Unmarshal(c.Body, v); err != nil {
		return fmt.Errorf("command: %w", err)
	}
	return nil
}

// statusOf is a Status reply carrying v in JSON.
func statusOf(v any) wire.Message {
	st, err := wire.NewStatus(v)
	if err != nil {
		return &wire.Error{Code: wire.CodeInternal, Text: err.Error()}
	}
	return st
}

// AssignOne answers every assignment request on conn with job: a
// coordinator of one job (fsl-coord start) serves workers started without
// --job. Unsubscribe the subscription when the job ends.
func AssignOne(conn *transport.Conn, job string, log *slog.Logger) (*transport.Subscription, error) {
	reply := statusOf(wire.Assignment{Job: job, Last: true})
	sub, err := conn.Subscribe(wire.Serve.Assign, func(m wire.Message, to string) {
		if to == "" {
			return
		}
		var req wire.AssignRequest
		var out wire.Message = reply
		if err := decodeCommand(m, &req); err != nil {
			out = badRequest(err)
		} else if req.Job != "" && req.Job != job {
			out = &wire.Error{Code: wire.CodeNotFound, Text: fmt.Sprintf("job %q: this coordinator runs job %q", req.Job, job)}
		}
		if err := conn.Send(to, out); err != nil {
			log.Warn("assign: reply", "err", err)
		}
	}, transport.SubscribeOptions{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("job %q: subscribe %s: %w", job, wire.Serve.Assign, err)
	}
	return sub, nil
}

// decodeQueuedJob reads a stored queue entry, naming the job at fault.
func decodeQueuedJob(id string, body []byte) (QueuedJob, error) {
	var q QueuedJob
	if err := json.Unmarshal(body, &q); err != nil {
		return q, fmt.Errorf("queue entry of job %q: %w", id, err)
	}
	if q.ID != id {
		return q, fmt.Errorf("queue entry of job %q names job %q", id, q.ID)
	}
	switch q.State {
	case StateQueued, StateRunning, StatePaused, StateDone, StateCancelled, StateFailed:
	default:
		return q, fmt.Errorf("queue entry of job %q: unknown state %q", id, q.State)
	}
	q.Spec = q.Spec.WithDefaults()
	if q.Weight <= 0 {
		q.Weight = 1
	}
	return q, nil
}

// ReadQueue returns the queue a serving coordinator keeps in the store at
// db, in submission order, reading the file while no process writes it
// (a running serve releases it between writes). Entries that do not
// decode are skipped with a warning to log.
func ReadQueue(db string, log *slog.Logger) ([]QueuedJob, error) {
	if log == nil {
		log = slog.Default()
	}
	st, err := checkpoints.Open(db, checkpoints.WithReadOnly(), checkpoints.WithLogger(log))
	if err != nil {
		return nil, err
	}
	defer st.Close()
	entries, err := st.QueueEntries()
	if err != nil {
		return nil, err
	}
	out := make([]QueuedJob, 0, len(entries))
	for _, e := range entries {
		q, err := decodeQueuedJob(e.ID, e.Body)
		if err != nil {
			log.Warn("skipping a queue entry that does not decode", "store", db, "err", err)
			continue
		}
		out = append(out, q)
	}
	slices.SortFunc(out, func(a, b QueuedJob) int { return cmp.Compare(a.Seq, b.Seq) })
	return out, nil
}
