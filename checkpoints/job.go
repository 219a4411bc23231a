package checkpoints

import (
	"encoding/json"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/fsl-project/fsl/params"
	bolt "go.etcd.io/bbolt"
)

// Status is a job's lifecycle state.
type Status string

// Job states. The zero Status is stored as StatusRunning.
const (
	StatusRunning Status = "running"
	StatusDone    Status = "done"
	StatusFailed  Status = "failed"
)

// DefaultBestMetric is the metric that picks the best checkpoint when a job
// record names none.
const DefaultBestMetric = "val_acc"

// maxJobIDLen bounds job IDs, which are bbolt bucket names.
const maxJobIDLen = 256

// JobRecord is what the store keeps about a job besides its checkpoints.
type JobRecord struct {
	// ID names the job: 1 to 256 bytes of UTF-8 without control characters.
	ID string
	// Spec is the job specification as the coordinator gave it (YAML or
	// JSON); the store keeps it opaque.
	Spec []byte
	// SpecFormat says how Spec is written, e.g. "yaml" or "json".
	SpecFormat string
	// Layout describes the parameter vector. When it has entries, Save
	// rejects checkpoints whose Params length differs from its size.
	Layout params.Layout
	// Dataset fingerprints the training data.
	Dataset string
	// BestMetric names the validation metric that picks the best checkpoint
	// (DefaultBestMetric when empty); higher is better unless LowerIsBetter.
	BestMetric    string
	LowerIsBetter bool
	// Status is the job's state; empty means StatusRunning.
	Status Status
	// Class is the compute class the job's parameters were computed in:
	// the canary of its first worker (model.Canary) and that worker's
	// description (model.Class). Empty until a worker has asked for work.
	Class Class
	// StoppedAt is the step at which the coordinator stopped the job early
	// (its patience ran out); 0 when it did not.
	StoppedAt uint64
	// Lineage counts the job's rollbacks (the coordinator's verified
	// results): parameters are one value per (Lineage, step).
	Lineage uint64
	// Banned lists the workers banned for the job, sorted.
	Banned []string
	// Trusted maps each worker whose result the job took unchecked (a shard
	// not verified) to the first step it did: a ban of that worker rolls the
	// job back to a checkpoint at or before that step.
	Trusted map[string]int
	// Created is set on the first PutJob when zero; Updated is set by every
	// PutJob and Save.
	Created time.Time
	Updated time.Time
}

// bestMetric is the metric that picks the best checkpoint.
func (r JobRecord) bestMetric() string {
	if r.BestMetric == "" {
		return DefaultBestMetric
	}
	return r.BestMetric
}

func validateJobID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("job ID is empty")
	case len(id) > maxJobIDLen:
		return fmt.Errorf("job ID %.20q... is %d bytes, limit %d", id, len(id), maxJobIDLen)
	case !utf8.ValidString(id):
		return fmt.Errorf("job ID %q is not valid UTF-8", id)
	}
	for _, r := range id {
		if unicode.IsControl(r) {
			return fmt.Errorf("job ID %q contains a control character", id)
		}
	}
	return nil
}

func validateRecord(r JobRecord) error {
	if err := validateJobID(r.ID); err != nil {
		return err
	}
	switch r.Status {
	case "", StatusRunning, StatusDone, StatusFailed:
	default:
		return fmt.Errorf("job %q: unknown status %q (want running, done or failed)", r.ID, r.Status)
	}
	if err := r.Layout.Validate(); err != nil {
		return fmt.Errorf("job %q: %w", r.ID, err)
	}
	return nil
}

// Class is a job's compute class (JobRecord.Class).
type Class struct {
	Canary      string `json:"canary,omitempty"`
	Description string `json:"description,omitempty"`
	// Mixed records that workers of other classes were admitted (the job
	// allowed it): the job's bits then match no single class's reference.
	Mixed bool `json:"mixed,omitempty"`
}

// jobJSON is the stored form of JobRecord; its field names are the format.
type jobJSON struct {
	ID            string         `json:"id"`
	Spec          []byte         `json:"spec,omitempty"`
	SpecFormat    string         `json:"spec_format,omitempty"`
	Layout        []entryJSON    `json:"layout,omitempty"`
	Dataset       string         `json:"dataset,omitempty"`
	BestMetric    string         `json:"best_metric,omitempty"`
	LowerIsBetter bool           `json:"lower_is_better,omitempty"`
	Status        Status         `json:"status"`
	Class         *Class         `json:"class,omitempty"`
	StoppedAt     uint64         `json:"stopped_at,omitempty"`
	Lineage       uint64         `json:"lineage,omitempty"`
	Banned        []string       `json:"banned,omitempty"`
	Trusted       map[string]int `json:"trusted,omitempty"`
	Created       time.Time      `json:"created"`
	Updated       time.Time      `json:"updated"`
}

type entryJSON struct {
	Name   string `json:"name"`
	Shape  []int  `json:"shape"`
	Offset int    `json:"offset"`
}

func encodeJob(r JobRecord) ([]byte, error) {
	j := jobJSON{
		ID: r.ID, Spec: r.Spec, SpecFormat: r.SpecFormat, Dataset: r.Dataset,
		BestMetric: r.BestMetric, LowerIsBetter: r.LowerIsBetter, Status: r.Status,
		Created: r.Created.UTC(), Updated: r.Updated.UTC(),
		Lineage: r.Lineage, Banned: r.Banned, Trusted: r.Trusted, StoppedAt: r.StoppedAt,
	}
	if r.Class != (Class{}) {
		j.Class = &r.Class
	}
	for _, e := range r.Layout.Entries {
		j.Layout = append(j.Layout, entryJSON{e.Name, e.Shape, e.Offset})
	}
	return json.Marshal(j)
}

func decodeJob(b []byte) (JobRecord, error) {
	var j jobJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return JobRecord{}, corrupt("job record: %v", err)
	}
	r := JobRecord{
		ID: j.ID, Spec: j.Spec, SpecFormat: j.SpecFormat, Dataset: j.Dataset,
		BestMetric: j.BestMetric, LowerIsBetter: j.LowerIsBetter, Status: j.Status,
		Created: j.Created, Updated: j.Updated,
		Lineage: j.Lineage, Banned: j.Banned, Trusted: j.Trusted, StoppedAt: j.StoppedAt,
	}
	if j.Class != nil {
		r.Class = *j.Class
	}
	for _, e := range j.Layout {
		r.Layout.Entries = append(r.Layout.Entries, params.Entry{Name: e.Name, Shape: e.Shape, Offset: e.Offset})
	}
	if err := validateRecord(r); err != nil {
		return JobRecord{}, corrupt("job record: %v", err)
	}
	return r, nil
}

// jobBucket returns the job's bucket and record.
func jobBucket(tx *bolt.Tx, id string) (*bolt.Bucket, JobRecord, error) {
	jb := tx.Bucket(bucketJobs).Bucket([]byte(id))
	if jb == nil {
		return nil, JobRecord{}, fmt.Errorf("job %q: %w", id, ErrNotFound)
	}
	rec, err := decodeJob(jb.Get(keyRecord))
	if err != nil {
		return nil, JobRecord{}, fmt.Errorf("job %q: %w", id, err)
	}
	if jb.Bucket(bucketSteps) == nil {
		return nil, JobRecord{}, fmt.Errorf("job %q: %w: steps bucket missing", id, ErrCorrupt)
	}
	return jb, rec, nil
}

// PutJob creates or replaces a job's record in one transaction. A zero
// Created keeps the stored one (or is set to now for a new job); Updated is
// always set to now. Changing BestMetric or LowerIsBetter re-picks the best
// checkpoint; changing the Layout of a job that has checkpoints is refused.
func (s *Store) PutJob(rec JobRecord) error {
	if err := validateRecord(rec); err != nil {
		return fmt.Errorf("put job in %q: %w", s.path, err)
	}
	now := s.cfg.now()
	err := s.update(func(tx *bolt.Tx) error {
		jobs := tx.Bucket(bucketJobs)
		jb := jobs.Bucket([]byte(rec.ID))
		if jb == nil {
			var err error
			if jb, err = jobs.CreateBucket([]byte(rec.ID)); err != nil {
				return err
			}
			if _, err := jb.CreateBucket(bucketSteps); err != nil {
				return err
			}
			if rec.Created.IsZero() {
				rec.Created = now
			}
			return putRecord(jb, rec, now)
		}
		_, old, err := jobBucket(tx, rec.ID)
		if err != nil {
			return err
		}
		if rec.Created.IsZero() {
			rec.Created = old.Created
		}
		steps := jb.Bucket(bucketSteps)
		if !old.Layout.Equal(rec.Layout) && hasAny(steps) {
			return fmt.Errorf("job %q has checkpoints of another layout (%d values); refusing to change it to %d values",
				rec.ID, old.Layout.Size(), rec.Layout.Size())
		}
		if err := putRecord(jb, rec, now); err != nil {
			return err
		}
		if old.bestMetric() != rec.bestMetric() || old.LowerIsBetter != rec.LowerIsBetter {
			return recomputeBest(jb, rec)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("put job %q in %q: %w", rec.ID, s.path, err)
	}
	return nil
}

func putRecord(jb *bolt.Bucket, rec JobRecord, now time.Time) error {
	if rec.Status == "" {
		rec.Status = StatusRunning
	}
	rec.Updated = now
	b, err := encodeJob(rec)
	if err != nil {
		return err
	}
	return jb.Put(keyRecord, b)
}

// Job returns the record of job id, or ErrNotFound.
func (s *Store) Job(id string) (JobRecord, error) {
	var rec JobRecord
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		_, rec, err = jobBucket(tx, id)
		return err
	})
	if err != nil {
		return JobRecord{}, fmt.Errorf("checkpoint store %q: %w", s.path, err)
	}
	return rec, nil
}

// Jobs returns every job record, sorted by ID.
func (s *Store) Jobs() ([]JobRecord, error) {
	var out []JobRecord
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketJobs).ForEachBucket(func(k []byte) error {
			_, rec, err := jobBucket(tx, string(k))
			if err != nil {
				return err
			}
			out = append(out, rec)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list jobs in %q: %w", s.path, err)
	}
	return out, nil
}

// DeleteJob deletes job id from the store in one transaction: its record,
// every checkpoint, the best pointer, the training history and its queue
// entry, so the ID is free for a new job. It returns how many checkpoints
// went. When the store holds neither a job nor a queue entry of that ID the
// error wraps ErrNotFound. bbolt reuses the freed pages; the file does not
// shrink.
func (s *Store) DeleteJob(id string) (int, error) {
	n := 0
	err := s.update(func(tx *bolt.Tx) error {
		n = 0
		queued := false
		if qb := tx.Bucket(bucketQueue); qb != nil && qb.Get([]byte(id)) != nil {
			queued = true
			if err := qb.Delete([]byte(id)); err != nil {
				return err
			}
		}
		jobs := tx.Bucket(bucketJobs)
		jb := jobs.Bucket([]byte(id))
		if jb == nil {
			if queued {
				return nil
			}
			return fmt.Errorf("job %q: %w", id, ErrNotFound)
		}
		if steps := jb.Bucket(bucketSteps); steps != nil {
			c := steps.Cursor()
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				if len(k) == 8 {
					n++
				}
			}
		}
		return jobs.DeleteBucket([]byte(id))
	})
	if err != nil {
		return 0, fmt.Errorf("delete job %q from %q: %w", id, s.path, err)
	}
	return n, nil
}
