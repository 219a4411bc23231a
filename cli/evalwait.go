package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/fsl-project/fsl/checkpoints"
)

// evalWaitPoll is how often eval --wait looks at the store.
const evalWaitPoll = 5 * time.Second

// waitForJobDone polls the store db, read-only, until job's record says
// done (nil), or until limit has passed or ctx ends (an error saying what
// it last saw). A missing store or job (the coordinator has not started
// yet), a store held by the running coordinator and a failed status (a
// restarted coordinator resumes) all mean: keep waiting. Each new state is
// written to log once.
func waitForJobDone(ctx context.Context, db, job string, limit, poll time.Duration, log io.Writer) error {
	deadline := time.Now().Add(limit)
	last := ""
	for {
		state, err := jobState(db, job, poll)
		if err != nil {
			return fmt.Errorf("--wait: %w", err)
		}
		if state == string(checkpoints.StatusDone) {
			if last != "" {
				fmt.Fprintf(log, "job %q is done in %s\n", job, db)
			}
			return nil
		}
		if state != last {
			fmt.Fprintf(log, "waiting for job %q to finish training in %s (%s)\n", job, db, state)
			last = state
		}
		wait := min(poll, time.Until(deadline))
		if wait <= 0 {
			return fmt.Errorf("--wait %v: job %q is not done in %s (%s)", limit, job, db, last)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("--wait: job %q is not done in %s (%s): %w", job, db, last, ctx.Err())
		case <-t.C:
		}
	}
}

// jobState says where job stands in db: its status, or why it cannot be
// read yet. Errors are for stores that will not become readable by waiting.
func jobState(db, job string, lockTimeout time.Duration) (string, error) {
	st, err := checkpoints.Open(db, checkpoints.WithReadOnly(), checkpoints.WithLockTimeout(lockTimeout))
	switch {
	case errors.Is(err, checkpoints.ErrNotFound):
		return "no store yet", nil
	case errors.Is(err, checkpoints.ErrLocked):
		return "the coordinator holds the store", nil
	case err != nil:
		return "", err
	}
	defer st.Close()
	rec, err := st.Job(job)
	switch {
	case errors.Is(err, checkpoints.ErrNotFound):
		return "no such job yet", nil
	case err != nil:
		return "", err
	}
	if rec.Status == "" {
		return string(checkpoints.StatusRunning), nil
	}
	return string(rec.Status), nil
}
