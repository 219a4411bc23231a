package worker

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/fsl-project/fsl/model"
	"github.com/fsl-project/fsl/params"
	"github.com/fsl-project/fsl/wire"
	"github.com/fsl-project/fsl/wire/transport"
)

// pool is what a worker that is not pinned to a job keeps across the jobs
// it is assigned: the models it built (one per model config) and the last
// parameters it fetched of each job, so that coming back to a job costs
// no rebuild and, when its version has not moved, no fetch.
type pool struct {
	models  map[model.Config]pooledModel
	params  map[string]pooledParams
	refused []string    // jobs that refused this worker (class, ban): sent as AssignRequest.Avoid
	drained atomic.Bool // a drain addressed to this worker came
}

type pooledModel struct {
	m             *model.Model
	canary, class string
}

type pooledParams struct {
	ver, lineage uint64
	p, st        params.Vector
}

// errSessionOver ends a pool worker's work for one job: the assignment's
// time is up, or the job is gone or has nothing for it now.
var errSessionOver = errors.New("assignment over")

// runPool asks the coordinator for a job (wire.Serve.Assign), works for it
// while the assignment lasts, and asks again, until ctx ends, a drain
// comes, or no coordinator answers for GiveUpAfter.
func (w *loop) runPool(ctx context.Context) (Stats, error) {
	w.pool = &pool{models: map[model.Config]pooledModel{}, params: map[string]pooledParams{}}
	w.mu.Lock()
	w.heard = time.Now()
	w.mu.Unlock()
	backoff := 200 * time.Millisecond
	for attempt := 1; !w.stopping(ctx); attempt++ {
		cmd, err := wire.NewCommand(wire.AssignRequest{Op: "assign", Worker: w.id, Avoid: w.pool.refused})
		if err != nil {
			return w.stats, err
		}
		reply, err := w.request(wire.Serve.Assign, cmd)
		if err != nil {
			if errors.Is(err, transport.ErrAuthorization) {
				return w.stats, fmt.Errorf("worker: NATS refused this worker's credentials (check --token or --creds): %w", err)
			}
			if err := w.gaveUp(err); err != nil {
				return w.stats, err
			}
			if attempt == 1 || attempt%20 == 0 {
				w.log.Info("waiting for a coordinator to assign a job", "attempt", attempt, "err", err, "gives_up_after", w.cfg.GiveUpAfter.String())
			}
			if !w.pause(ctx, backoff) {
				break
			}
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		backoff = 200 * time.Millisecond
		switch r := reply.(type) {
		case *wire.Wait:
			if !w.pause(ctx, r.RetryAfter) {
				return w.stats, nil
			}
		case *wire.Status:
			var a wire.Assignment
			if err := wire.DecodeStatus(r, &a); err != nil || a.Job == "" {
				return w.stats, fmt.Errorf("worker: assignment from the coordinator: %v", err)
			}
			if err := w.session(ctx, a); err != nil {
				return w.stats, err
			}
			if w.pool.drained.Load() || a.Last {
				return w.stats, nil
			}
		default:
			w.log.Warn("unexpected reply to an assignment request", "type", reply.Type())
			if !w.pause(ctx, time.Second) {
				return w.stats, nil
			}
		}
	}
	return w.stats, nil
}

// session works for the job of a, as a pinned worker would, until the
// assignment ends; only errors that end the worker are returned.
func (w *loop) session(ctx context.Context, a wire.Assignment) error {
	subj, err := wire.NewSubjects(a.Job)
	if err != nil {
		return fmt.Errorf("worker: assigned job: %w", err)
	}
	s := &loop{cfg: w.cfg, nc: w.nc, subj: subj, id: w.id, mopts: w.mopts, pool: w.pool, drain: make(chan struct{})}
	s.cfg.Job, s.cfg.GiveUpAfter = a.Job, 0
	s.log = w.cfg.Logger.With("worker", w.id, "job", a.Job)
	if a.For > 0 {
		s.until = time.Now().Add(a.For)
	}
	if c, ok := w.pool.params[a.Job]; ok {
		s.p, s.st, s.ver, s.lineage, s.have = c.p, c.st, c.ver, c.lineage, true
	}
	w.cfg.Metrics.identify(a.Job, w.id)
	st, err := s.run(ctx)
	w.stats.Shards += st.Shards
	w.stats.ParamsFetched += st.ParamsFetched
	w.stats.Stale += st.Stale
	if s.have {
		w.pool.params[a.Job] = pooledParams{ver: s.ver, lineage: s.lineage, p: s.p, st: s.st}
	}
	w.mu.Lock()
	w.heard = time.Now() // an assignment is an answer
	w.mu.Unlock()
	switch {
	case err == nil:
		return nil
	case errors.Is(err, wire.ErrWrongClass), errors.Is(err, wire.ErrBanned):
		w.log.Warn("job refused this worker; it will not be assigned again", "job", a.Job, "err", err)
		w.pool.refused = append(w.pool.refused, a.Job)
		return nil
	}
	return err
}

// over reports whether a pool worker's assignment has ended.
func (w *loop) over() bool {
	return w.pool != nil && !w.until.IsZero() && time.Now().After(w.until)
}

// model returns the pool's model of config mc, if it built one.
func (p *pool) model(mc model.Config) (pooledModel, bool) {
	if p == nil {
		return pooledModel{}, false
	}
	m, ok := p.models[mc]
	return m, ok
}
