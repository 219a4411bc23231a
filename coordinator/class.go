package coordinator

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/fsl-project/fsl/wire"
)

// checkClass admits a worker's work request only when the worker computes
// in the job's compute class: its canary (the hash of one fixed step,
// model.Canary) equals the job's. The job's class is the one its spec
// names (ComputeClass, a canary or its prefix) or else its first worker's;
// the first worker of it makes the class whole (canary and description),
// kept in the job record so a restarted coordinator holds workers to it.
// A worker of another class is refused with both classes named, unless
// the spec allows mixing, which is then recorded in the job record and in
// every later checkpoint's metrics ("mixed_classes").
//
// A refused worker asks again and again, and its ID and canary are its
// own choice: the refusal's log lines are limited per worker (d.logLimit).
func (d *Driver) checkClass(worker, canary, class string, now time.Time) *wire.Error {
	if d.admitted[worker] == canary && canary != "" {
		return nil
	}
	if canary == "" {
		return &wire.Error{Code: wire.CodeWrongClass,
			Text: fmt.Sprintf("job %q: the work request carries no compute-class canary (a worker older than this coordinator?)", d.spec.ID)}
	}
	named := d.spec.ComputeClass
	switch job := d.class; {
	case job.Canary == "" && (named == "" || strings.HasPrefix(canary, named)):
		// The job's first worker, or the first of the class its spec
		// names. Mixed stays: workers of other classes may have come first.
		d.class.Canary, d.class.Description = canary, class
		if err := d.putClass(); err != nil {
			d.log.Error("record the job's compute class", "err", err)
		}
		d.log.Info("job compute class", "class", class, "canary", short(canary), "worker", worker, "named_in_spec", named != "")
	case job.Canary != canary && !d.spec.AllowMixedClasses:
		if d.limited(&d.logLimit, slog.LevelWarn, fmt.Sprintf("refusals of another compute class to %q", shortID(worker)), now) {
			d.log.Warn("worker of another compute class refused", "worker", worker, "class", class, "canary", short(canary),
				"job_class", job.Description, "job_canary", short(d.jobCanary()))
		}
		return &wire.Error{Code: wire.CodeWrongClass, Text: fmt.Sprintf(
			"job %q computes in %s; this worker computes in class %q (canary %s): its bits would differ. "+
				"Run it on a machine of the job's class, or allow mixing with allow_mixed_classes in the job spec",
			d.spec.ID, d.jobClass(), class, short(canary))}
	case job.Canary != canary && !job.Mixed:
		d.class.Mixed = true
		if err := d.putClass(); err != nil {
			d.log.Error("record the job's mixed compute classes", "err", err)
		}
		d.log.Warn("worker of another compute class admitted (allow_mixed_classes): the job's bits now match no single class",
			"worker", worker, "class", class, "job_class", d.jobClass())
	}
	d.admitted[worker] = canary
	return nil
}

// jobCanary is the job's canary, or as much of it as its spec names
// before a worker of its class has joined.
func (d *Driver) jobCanary() string {
	if d.class.Canary != "" {
		return d.class.Canary
	}
	return d.spec.ComputeClass
}

// jobClass names the job's class for messages: `class "cpu avx512 …"
// (canary 0123456789ab)`; for a class the spec names, before a worker of
// it has joined, only its canary is known, and it says so.
func (d *Driver) jobClass() string {
	if d.class.Canary == "" && d.spec.ComputeClass != "" {
		return fmt.Sprintf("the class of canary %s, named by compute_class in the job spec "+
			"(which kernels and BLAS that is becomes known when a worker of that class joins)", short(d.spec.ComputeClass))
	}
	return fmt.Sprintf("class %q (canary %s)", d.class.Description, short(d.class.Canary))
}

// putClass writes the job's compute class into its record.
func (d *Driver) putClass() error {
	rec, err := d.store.Job(d.spec.ID)
	if err != nil {
		return err
	}
	rec.Class = d.class
	return d.store.PutJob(rec)
}

func short(canary string) string { return canary[:min(12, len(canary))] }
