package coordinator

import (
	"fmt"
	"maps"
	"time"

	"github.com/fsl-project/fsl/checkpoints"
	"github.com/fsl-project/fsl/coordinator/machine"
	"github.com/fsl-project/fsl/wire"
)

// The driver's side of verified results (verify.go): bans are recorded in
// the job record, rollbacks restore a checkpoint and rewind the machine.

// bannedError is the reply to a banned worker's join and work requests.
func (d *Driver) bannedError() *wire.Error {
	return &wire.Error{Code: wire.CodeBanned, Text: fmt.Sprintf(
		"job %q banned this worker: a result of it differed from the bits two other workers agreed on "+
			"(a faulty machine, another compute class, or a modified worker)", d.spec.ID)}
}

// recordBan writes the job's bans into its record, so that a restarted
// coordinator keeps them.
func (d *Driver) recordBan(b machine.Banned) error {
	d.log.Warn("worker banned: its result differed from the bits two other workers agreed on",
		"worker", b.Worker, "step", b.Step, "shard", b.Shard)
	rec, err := d.store.Job(d.spec.ID)
	if err != nil {
		return fmt.Errorf("record the ban of worker %q in job %s: %w", b.Worker, d.spec.ID, err)
	}
	// Only the bans: the record's trusted workers stay those of its newest
	// checkpoint, so that a coordinator that stops before the rollback this
	// ban may call for finds the banned worker among them and rolls back
	// when it resumes (see pendingRollback).
	_, rec.Banned = d.m.Trust()
	if err := d.store.PutJob(rec); err != nil {
		return fmt.Errorf("record the ban of worker %q in job %s: %w", b.Worker, d.spec.ID, err)
	}
	return nil
}

// rollback discards the parameters computed since rb.Step: it restores
// the newest checkpoint at or before rb.Step (the initial parameters when
// there is none), deletes the later checkpoints and records the job's new
// lineage in one store transaction, and rewinds the machine.
func (d *Driver) rollback(rb machine.Rollback) error {
	from := d.tr.Version
	fail := func(err error) error {
		return fmt.Errorf("roll job %s back past step %d (worker %q banned): %w", d.spec.ID, rb.Step, rb.Worker, err)
	}
	tr, err := NewTrainer(d.spec)
	if err != nil {
		return fail(err)
	}
	trusted, banned := d.m.Trust()
	lineage := d.m.Lineage() + 1
	c, deleted, trusted, err := d.rollbackStore(rb.Step, lineage, trusted, banned)
	if err != nil {
		return fail(err)
	}
	if c != nil {
		if err := tr.Restore(c); err != nil {
			return fail(err)
		}
	}
	to := tr.Version
	if err := d.m.Rewind(to); err != nil {
		return fail(err)
	}
	d.tr, d.params, d.savedTrust = tr, nil, trusted
	if d.valStep > to {
		d.lastVal, d.valStep = nil, 0
	}
	d.log.Warn("rolled back: the steps since the banned worker's first unchecked result are recomputed without it",
		"worker", rb.Worker, "first_unchecked_step", rb.Step, "from_step", from, "to_step", to,
		"checkpoints_deleted", len(deleted), "lineage", lineage)
	d.refresh()
	return nil
}

// rollbackStore picks the newest valid checkpoint at or before step (nil
// when there is none: the job restarts from its initial parameters), and
// in one store transaction deletes the later ones and records lineage,
// banned, and trusted less the entries at or after the picked step (which
// it returns: those results are recomputed).
func (d *Driver) rollbackStore(step int, lineage uint64, trusted map[string]int, banned []string) (
	*checkpoints.Checkpoint, []uint64, map[string]int, error) {
	infos, err := d.store.List(d.spec.ID)
	if err != nil {
		return nil, nil, nil, err
	}
	var c *checkpoints.Checkpoint
	for i := len(infos) - 1; i >= 0 && c == nil; i-- {
		if infos[i].Err != nil || infos[i].Step > uint64(step) {
			continue
		}
		if c, err = d.store.At(d.spec.ID, infos[i].Step); err != nil {
			d.log.Warn("rollback: skipping an unreadable checkpoint", "step", infos[i].Step, "err", err)
		}
	}
	to := 0
	if c != nil {
		to = int(c.Step)
	}
	trusted = maps.Clone(trusted)
	maps.DeleteFunc(trusted, func(_ string, s int) bool { return s >= to })
	deleted, err := d.store.Rollback(d.spec.ID, uint64(to), func(rec *checkpoints.JobRecord) {
		rec.Lineage, rec.Banned, rec.Trusted = lineage, banned, trusted
	})
	if err != nil {
		return nil, nil, nil, err
	}
	return c, deleted, trusted, nil
}

// pendingRollback finds, in a job record, a banned worker that is still
// trusted from some step: the coordinator stopped after recording the ban
// and before its rollback. It returns the earliest such step and worker,
// or -1.
func pendingRollback(rec checkpoints.JobRecord) (int, string) {
	step, who := -1, ""
	for _, w := range rec.Banned {
		if s, ok := rec.Trusted[w]; ok && (step < 0 || s < step) {
			step, who = s, w
		}
	}
	return step, who
}

// saveTrust writes the machine's trusted workers and bans into the job
// record before a checkpoint is saved, when they changed: a coordinator
// restarted from that checkpoint must still roll back far enough when it
// bans one of them.
func (d *Driver) saveTrust() error {
	if d.spec.Verify <= 0 && len(d.bannedIn) == 0 && d.m.Counters().Bans == 0 {
		return nil
	}
	trusted, banned := d.m.Trust()
	if maps.Equal(trusted, d.savedTrust) && len(banned) == d.savedBans {
		return nil
	}
	rec, err := d.store.Job(d.spec.ID)
	if err != nil {
		return err
	}
	rec.Trusted, rec.Banned = trusted, banned
	if err := d.store.PutJob(rec); err != nil {
		return err
	}
	d.savedTrust, d.savedBans = trusted, len(banned)
	return nil
}

// warnShortOfWorkers says, at most every 30s, when a step with verified
// shards has waited 10s or more for lack of workers: a verified shard needs
// two, and settling a disagreement three.
func (d *Driver) warnShortOfWorkers(now time.Time) {
	if d.spec.Verify <= 0 || d.done || now.Sub(d.lastStep) < 10*time.Second || now.Before(d.nextShortWarn) {
		return
	}
	st := d.m.Status()
	need := 2
	for _, s := range st.Shards {
		if s.State != machine.ShardDone && s.Copies >= 2 {
			need = max(need, s.Copies+1)
		}
	}
	if len(st.Workers) >= need {
		return
	}
	d.nextShortWarn = now.Add(30 * time.Second)
	d.log.Warn("the step waits for workers: verified shards need two workers that agree, and a disagreement one more",
		"verify", d.spec.Verify, "workers", len(st.Workers), "needed", need, "step", st.Step)
}
