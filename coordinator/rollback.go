package coordinator

import (
	"fmt"
	"maps"

	"github.com/fsl-project/fsl/checkpoints"
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
func (d *Driver) recordBan(b Banned) error {
	d.log.Warn("worker banned: its result differed from the bits two other workers agreed on",
		"worker", b.Worker, "step", b.Step, "shard", b.Shard)
	rec, err := d.store.Job(d.spec.ID)
	if err != nil {
		return fmt.Errorf("record the ban of worker %q in job %s: %w", b.Worker, d.spec.ID, err)
	}
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
func (d *Driver) rollback(rb Rollback) error {
	from := d.tr.Version
	fail := func(err error) error {
		return fmt.Errorf("roll job %s back past step %d (worker %q banned): %w", d.spec.ID, rb.Step, rb.Worker, err)
	}
	infos, err := d.store.List(d.spec.ID)
	if err != nil {
		return fail(err)
	}
	tr, err := NewTrainer(d.spec)
	if err != nil {
		return fail(err)
	}
	for i := len(infos) - 1; i >= 0; i-- {
		if infos[i].Err != nil || infos[i].Step > uint64(rb.Step) {
			continue
		}
		c, err := d.store.At(d.spec.ID, infos[i].Step)
		if err != nil {
			d.log.Warn("rollback: skipping an unreadable checkpoint", "step", infos[i].Step, "err", err)
			continue
		}
		if err := tr.Restore(c); err != nil {
			return fail(err)
		}
		break
	}
	to := tr.Version
	lineage := d.m.Lineage() + 1
	trusted, banned := d.m.Trust()
	maps.DeleteFunc(trusted, func(_ string, s int) bool { return s >= to })
	deleted, err := d.store.Rollback(d.spec.ID, uint64(to), func(rec *checkpoints.JobRecord) {
		rec.Lineage, rec.Banned, rec.Trusted = lineage, banned, trusted
	})
	if err != nil {
		return fail(err)
	}
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
