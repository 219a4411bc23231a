package machine

import (
	"container/heap"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/fsl-project/fsl/params"
)

// TestRandomClusterCompletesEveryStepExactlyOnce simulates whole jobs on an
// explicit timeline: workers with random speeds that sometimes overrun their
// lease, crash and restart, send duplicate or corrupt results, and a network
// that delays and reorders messages. Whatever happens, every step must
// complete once, in order, with exactly one correct result per shard in
// shard order, and the counters must add up.
//
// In a third of the runs some shards are verified (Config.Verify), and in
// half of those one worker cheats: it sends finite, well-formed but wrong
// gradients for about half its shards. Then only it may be banned; once it
// is (always, with every shard verified), every step of the final lineage
// holds correct results only; with every shard verified no wrong result is
// ever handed over.
//
// Half the runs of each test pipeline their steps (Config.Pipeline 1 or
// 2: the steps ahead are leased and their results kept while one is
// applied), drawn from a stream of their own so that each seed's other
// draws stay what they were.
func TestRandomClusterCompletesEveryStepExactlyOnce(t *testing.T) {
	seeds := 40
	if testing.Short() {
		seeds = 8
	}
	for seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			newSim(t, uint64(seed), false).run()
		})
	}
}

// TestRandomClusterBansACheaterAndRollsBack runs the same simulation with
// a cheater in every run and part of the shards verified, so that the
// cheater's wrong results are mostly taken unchecked before it is caught:
// the job must then roll back and end with correct results only.
func TestRandomClusterBansACheaterAndRollsBack(t *testing.T) {
	seeds := 60
	if testing.Short() {
		seeds = 12
	}
	var banned, rollbacks int
	for seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			s := newSim(t, uint64(seed), true)
			s.run()
			c := s.m.Counters()
			if s.banned {
				banned++
			}
			rollbacks += c.Rollbacks
		})
	}
	// Not a flaky bound: the runs are deterministic by seed.
	if banned < seeds/2 || rollbacks < seeds/4 {
		t.Fatalf("%d of %d runs banned the cheater, %d rollbacks in all: the test no longer exercises them", banned, seeds, rollbacks)
	}
	t.Logf("%d of %d runs banned the cheater, %d rollbacks", banned, seeds, rollbacks)
}

// simEvent is one thing that happens at a point of simulated time.
type simEvent struct {
	at  time.Time
	seq int // breaks ties in scheduling order, so runs are reproducible
	do  func(now time.Time)
}

type eventQueue []simEvent

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(simEvent)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

type simWorker struct {
	id   string
	gen  int // bumped on crash: events of an earlier life do nothing
	up   bool
	done bool
}

type sim struct {
	t       *testing.T
	rng     *rand.Rand
	cfg     Config
	m       *Machine
	q       eventQueue
	seq     int
	workers []*simWorker

	clock       time.Time // time of the event being run
	completed   int       // steps completed in the current lineage
	finished    bool
	fed         int // results fed to the machine
	fedCorrupt  int
	advancePend bool

	cheater    string       // the cheating worker's ID, "" for none
	banned     bool         // the cheater was banned
	wrong      map[int]bool // steps of the current lineage handed over with a wrong result
	everWrong  bool         // some StepComplete held a wrong result
	ckpts      []int        // checkpointed versions of the current lineage, ascending
	rewinds    int          // rollbacks so far: an advance scheduled before one is void
	rolledBack bool
}

func newSim(t *testing.T, seed uint64, cheat bool) *sim {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	cfg := Config{
		Job:              "sim",
		ShardsPerStep:    1 + rng.IntN(8),
		TotalSteps:       3 + rng.IntN(20),
		LeaseTimeout:     2 * time.Second,
		HeartbeatTimeout: 3 * time.Second,
		RetryAfter:       time.Duration(50+rng.IntN(300)) * time.Millisecond,
		CheckpointEvery:  rng.IntN(4),
		GradLen:          3,
		StateLen:         rng.IntN(3),
		LayoutHash:       seed,
	}
	if rng.IntN(2) == 0 {
		cfg.BackupWhenRemaining = 1 + rng.IntN(cfg.ShardsPerStep)
		cfg.MaxBackupsPerShard = 1 + rng.IntN(2)
		cfg.BackupSlowFactor = DefaultBackupSlowFactor
	}
	workers := 1 + rng.IntN(10)
	switch {
	case cheat:
		cfg.Verify, cfg.VerifyKey = []float64{0.2, 0.5}[rng.IntN(2)], rng.Uint64()
		cfg.TotalSteps += 20
		workers = max(workers, 4)
	case rng.IntN(3) == 0:
		cfg.Verify, cfg.VerifyKey = []float64{0.3, 1}[rng.IntN(2)], rng.Uint64()
		workers = max(workers, 4) // two honest ones agree, a third settles a disagreement
		cheat = rng.IntN(2) == 0
	}
	cfg.Pipeline = []int{0, 0, 1, 2}[rand.New(rand.NewPCG(seed, 0x919e)).IntN(4)]
	s := &sim{t: t, rng: rng, cfg: cfg, wrong: map[int]bool{}, ckpts: []int{0}}
	if cheat {
		s.cheater = "w0"
	}
	m, err := New(cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	s.m = m
	s.drain()
	for i := range workers {
		w := &simWorker{id: fmt.Sprintf("w%d", i)}
		s.workers = append(s.workers, w)
		s.after(t0, s.jitter(time.Second), func(now time.Time) { s.start(w, now) })
	}
	s.after(t0, 500*time.Millisecond, s.tick)
	return s
}

func (s *sim) jitter(max time.Duration) time.Duration {
	return time.Duration(s.rng.Int64N(int64(max)))
}

func (s *sim) after(now time.Time, d time.Duration, do func(time.Time)) {
	s.seq++
	heap.Push(&s.q, simEvent{at: now.Add(d), seq: s.seq, do: do})
}

// alive wraps a worker's event so it does nothing after the worker crashes.
func (s *sim) alive(w *simWorker, do func(time.Time)) func(time.Time) {
	gen := w.gen
	return func(now time.Time) {
		if w.up && w.gen == gen && !w.done {
			do(now)
		}
	}
}

func (s *sim) run() {
	const maxEvents = 500_000
	horizon := t0.Add(time.Duration(s.cfg.TotalSteps) * time.Hour)
	for n := 0; !s.finished; n++ {
		if n == maxEvents || s.q.Len() == 0 {
			s.t.Fatalf("%d events, queue %d: job stuck at step %d (%v); config %+v", n, s.q.Len(), s.m.Step(), s.m.Phase(), s.cfg)
		}
		e := heap.Pop(&s.q).(simEvent)
		if e.at.After(horizon) {
			s.t.Fatalf("simulated time ran past %v at step %d", horizon.Sub(t0), s.m.Step())
		}
		s.clock = e.at
		e.do(e.at)
		s.drain()
		if err := s.m.invariants(); err != nil {
			s.t.Fatalf("after event %d at %v: %v", n, e.at.Sub(t0), err)
		}
	}
	c := s.m.Counters()
	S, T := s.cfg.ShardsPerStep, s.cfg.TotalSteps
	advanced := T + c.StepsRolledBack
	if s.completed != T || c.StepsAdvanced != advanced || c.Applied != S*advanced+c.Discarded {
		s.t.Fatalf("%d steps completed, %d advanced, %d applied; want %d, %d, %d", s.completed, c.StepsAdvanced, c.Applied, T, advanced, S*advanced+c.Discarded)
	}
	if s.fed != c.Applied+c.Held+c.Duplicates+c.LostRaces+c.InvalidTotal {
		s.t.Fatalf("fed %d results != applied %d + held %d + duplicates %d + lost %d + invalid %d",
			s.fed, c.Applied, c.Held, c.Duplicates, c.LostRaces, c.InvalidTotal)
	}
	if s.cfg.Verify == 1 && s.everWrong {
		s.t.Fatalf("a wrong result was handed over with every shard verified")
	}
	if s.cfg.Verify == 1 && s.cheater != "" && c.Held > 0 && !s.banned && len(s.wrong) > 0 {
		s.t.Fatalf("the cheater was not banned")
	}
	if s.banned || s.cheater == "" {
		for step := range s.wrong {
			s.t.Fatalf("step %d of the final lineage holds a wrong result (cheater banned: %v)", step, s.banned)
		}
	}
	if s.banned != (c.Bans > 0) || c.Bans > 1 {
		s.t.Fatalf("%d bans; the cheater banned: %v", c.Bans, s.banned)
	}
	if c.InvalidTotal < s.fedCorrupt {
		s.t.Fatalf("%d invalid, but %d corrupt results were fed", c.InvalidTotal, s.fedCorrupt)
	}
	if s.cfg.BackupWhenRemaining == 0 && c.Backups != 0 {
		s.t.Fatalf("%d backups with backups off", c.Backups)
	}
	s.t.Logf("S=%d T=%d pipeline=%d workers=%d backups<=%d: %+v", S, T, s.cfg.Pipeline, len(s.workers), s.cfg.BackupWhenRemaining, c)
}

// drain acts on the machine's outputs as a driver would.
func (s *sim) drain() {
outputs:
	for _, o := range s.m.Ready() {
		switch o := o.(type) {
		case StepComplete:
			if o.Step != s.completed || s.advancePend {
				s.t.Fatalf("StepComplete for step %d, want step %d (advance pending: %v)", o.Step, s.completed, s.advancePend)
			}
			if len(o.Results) != s.cfg.ShardsPerStep {
				s.t.Fatalf("step %d: %d results, want %d", o.Step, len(o.Results), s.cfg.ShardsPerStep)
			}
			delete(s.wrong, o.Step)
			for i, r := range o.Results {
				if r.Shard != i || r.Step != o.Step {
					s.t.Fatalf("step %d Results[%d] = step %d shard %d: not the work for it", o.Step, i, r.Step, r.Shard)
				}
				if r.Grads[0] != gradValue(o.Step, i) {
					if r.Worker != s.cheater || s.m.shards[i].verify {
						s.t.Fatalf("step %d Results[%d] from %q (verified %v) has grad %v: wrong work handed over",
							o.Step, i, r.Worker, s.m.shards[i].verify, r.Grads[0])
					}
					s.wrong[o.Step], s.everWrong = true, true
				}
			}
			s.completed++
			s.advancePend = true
			if o.Version != LagVersion(o.Step, s.cfg.Pipeline) {
				s.t.Fatalf("StepComplete for step %d at version %d, want %d", o.Step, o.Version, LagVersion(o.Step, s.cfg.Pipeline))
			}
			next := o.Step + 1
			rewinds := s.rewinds
			// Aggregation and the optimizer take a while.
			s.after(s.clock, s.jitter(500*time.Millisecond), func(time.Time) {
				if rewinds != s.rewinds {
					return // a rollback discarded this step
				}
				s.advancePend = false
				if err := s.m.Advance(next); err != nil {
					s.t.Fatalf("Advance(%d): %v", next, err)
				}
			})
		case CheckpointDue:
			s.ckpts = append(s.ckpts, o.Version)
		case Banned:
			if o.Worker != s.cheater || s.cheater == "" {
				s.t.Fatalf("honest worker %q banned at step %d shard %d", o.Worker, o.Step, o.Shard)
			}
			s.banned = true
		case Rollback:
			to := 0
			for _, v := range s.ckpts {
				if v <= o.Step {
					to = v
				}
			}
			s.ckpts = slices.DeleteFunc(s.ckpts, func(v int) bool { return v > to })
			if err := s.m.Rewind(to); err != nil {
				s.t.Fatalf("Rewind(%d) after %+v: %v", to, o, err)
			}
			for step := range s.wrong {
				if step >= to {
					delete(s.wrong, step)
				}
			}
			s.completed, s.advancePend, s.rolledBack = to, false, true
			s.rewinds++
			break outputs
		case JobDone:
			if o.Version != s.cfg.TotalSteps {
				s.t.Fatalf("JobDone at version %d, want %d", o.Version, s.cfg.TotalSteps)
			}
			s.finished = true
		}
	}
}

func (s *sim) tick(now time.Time) {
	s.m.Tick(now)
	if !s.finished {
		s.after(now, 500*time.Millisecond, s.tick)
	}
}

// start brings a worker (back) up: join, heartbeat every second, ask for
// work.
func (s *sim) start(w *simWorker, now time.Time) {
	w.up = true
	if err := s.m.Join(w.id, now); err != nil {
		if errors.Is(err, ErrBanned) && w.id == s.cheater {
			w.done = true
			return
		}
		s.t.Fatal(err)
	}
	var beat func(time.Time)
	beat = s.alive(w, func(now time.Time) {
		if err := s.m.Heartbeat(w.id, now); err != nil {
			s.t.Fatal(err)
		}
		s.after(now, time.Second, beat)
	})
	s.after(now, time.Second, beat)
	s.request(w, now)
}

func (s *sim) request(w *simWorker, now time.Time) {
	may := s.m.MayGrant(now)
	r, err := s.m.RequestWork(w.id, now)
	if err != nil {
		s.t.Fatal(err)
	}
	switch r.(type) {
	case Lease, Done:
		if !may {
			s.t.Fatalf("at %v MayGrant said no, then %s got %#v", now.Sub(t0), w.id, r)
		}
	}
	switch r := r.(type) {
	case Done, BannedReply:
		w.done = true
	case Wait:
		s.after(now, r.RetryAfter+s.jitter(100*time.Millisecond), s.alive(w, func(now time.Time) { s.request(w, now) }))
	case Lease:
		s.work(w, r, now)
	}
}

// work computes a leased shard: usually in time, sometimes past the
// deadline; sometimes the worker crashes, sends garbage, or its result is
// duplicated on the way.
func (s *sim) work(w *simWorker, l Lease, now time.Time) {
	compute := time.Duration(100+s.rng.IntN(1400)) * time.Millisecond
	if s.rng.IntN(10) == 0 {
		compute = time.Duration(2000+s.rng.IntN(4000)) * time.Millisecond // overruns its lease
	}
	if s.rng.IntN(30) == 0 { // crash mid-shard, restart later
		s.after(now, s.jitter(compute), s.alive(w, func(now time.Time) {
			w.up = false
			w.gen++
			s.after(now, time.Duration(500+s.rng.IntN(6000))*time.Millisecond, func(now time.Time) { s.start(w, now) })
		}))
		return
	}
	r := validResult(s.cfg, w.id, l.Step, l.Shard)
	r.Lineage = l.Lineage
	if w.id == s.cheater && s.rng.IntN(2) == 0 {
		r.Grads = slices.Clone(r.Grads)
		r.Grads[0] += 0.5 // finite, well-formed, wrong
	}
	corrupt := s.rng.IntN(12) == 0
	if corrupt {
		s.corrupt(&r)
	}
	copies := 1
	if s.rng.IntN(15) == 0 {
		copies = 2
	}
	s.after(now, compute, s.alive(w, func(now time.Time) {
		for range copies {
			s.after(now, s.jitter(300*time.Millisecond), func(now time.Time) { s.feed(r, corrupt, now) })
		}
		if s.rng.IntN(40) == 0 { // drained: leave, come back later
			s.m.Leave(w.id, now)
			w.up = false
			w.gen++
			s.after(now, time.Duration(500+s.rng.IntN(3000))*time.Millisecond, func(now time.Time) { s.start(w, now) })
			return
		}
		s.request(w, now)
	}))
}

// corrupt makes r invalid in one of the ways a broken worker or network
// could.
func (s *sim) corrupt(r *params.Result) {
	switch s.rng.IntN(6) {
	case 0:
		r.Grads[s.rng.IntN(len(r.Grads))] = float32(math.NaN())
	case 1:
		r.Loss = math.Inf(1)
	case 2:
		r.Grads = r.Grads[:len(r.Grads)-1]
	case 3:
		r.Version++
	case 4:
		r.LayoutHash++
	case 5:
		r.Count = 0
	}
}

func (s *sim) feed(r params.Result, corrupt bool, now time.Time) {
	s.fed++
	if corrupt {
		s.fedCorrupt++
	}
	v := s.m.Result(r, now)
	switch {
	case corrupt && v.Outcome != Invalid:
		s.t.Fatalf("corrupt result step %d shard %d: verdict %+v", r.Step, r.Shard, v)
	case r.Worker == s.cheater:
	case !corrupt && v.Outcome == Invalid && v.Reason != ReasonStaleStep &&
		!(s.rolledBack && (v.Reason == ReasonFutureStep || v.Reason == ReasonWrongVersion)):
		// A correct result can only be too late for its step (or its
		// lineage, after a rollback).
		s.t.Fatalf("correct result step %d shard %d at step %d: verdict %+v", r.Step, r.Shard, s.m.Step(), v)
	}
}
