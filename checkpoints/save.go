package checkpoints

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"
)

// stepKey is the bbolt key of a step: big-endian, so keys sort by step.
func stepKey(step uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], step)
	return k[:]
}

func hasAny(b *bolt.Bucket) bool {
	k, _ := b.Cursor().First()
	return k != nil
}

// Save stores c as job's checkpoint at c.Step, in one fsync'd transaction
// that also moves the best pointer when c is better by the job's metric and
// bumps the job's Updated time. A checkpoint already stored at that step is
// replaced. The job must exist (PutJob). Save does not modify c; a zero
// c.Created is stored as the store clock's now.
func (s *Store) Save(job string, c *Checkpoint) error {
	if c == nil {
		return fmt.Errorf("save checkpoint of job %q: nil checkpoint", job)
	}
	cp := *c
	now := s.cfg.now()
	if cp.Created.IsZero() {
		cp.Created = now
	}
	raw, err := encodeCheckpoint(&cp)
	if err != nil {
		return fmt.Errorf("save checkpoint of job %q step %d: %w", job, c.Step, err)
	}
	err = s.update(func(tx *bolt.Tx) error {
		jb, rec, err := jobBucket(tx, job)
		if err != nil {
			return err
		}
		if want := rec.Layout.Size(); len(rec.Layout.Entries) > 0 && want != len(cp.Params) {
			return fmt.Errorf("job %q: checkpoint has %d parameters, the job's layout has %d", job, len(cp.Params), want)
		}
		return putValue(jb, rec, cp.Step, raw, cp.Metrics, now)
	})
	if err != nil {
		return fmt.Errorf("save checkpoint of job %q step %d to %q: %w", job, c.Step, s.path, err)
	}
	return nil
}

// putValue stores an encoded checkpoint and keeps the best pointer and the
// record's Updated time right; it runs inside the caller's transaction.
func putValue(jb *bolt.Bucket, rec JobRecord, step uint64, raw []byte, metrics map[string]float64, now time.Time) error {
	steps := jb.Bucket(bucketSteps)
	key := stepKey(step)
	replaced := steps.Get(key) != nil
	if err := steps.Put(key, raw); err != nil {
		return err
	}
	best, hasBest, err := readBest(jb)
	if err != nil {
		return err
	}
	if replaced && hasBest && best.step == step {
		// The old value was the best; the new one may not be.
		if err := recomputeBest(jb, rec); err != nil {
			return err
		}
	} else if v, ok := candidate(rec, metrics); ok && (!hasBest || better(rec, pointer{step, v}, best)) {
		if err := writeBest(jb, pointer{step, v}); err != nil {
			return err
		}
	}
	return putRecord(jb, rec, now)
}

// pointer is the best checkpoint's step and its metric value.
type pointer struct {
	step  uint64
	value float64
}

func readBest(jb *bolt.Bucket) (pointer, bool, error) {
	raw := jb.Get(keyBest)
	if raw == nil {
		return pointer{}, false, nil
	}
	if len(raw) != 16 {
		return pointer{}, false, fmt.Errorf("%w: best pointer is %d bytes, want 16", ErrCorrupt, len(raw))
	}
	return pointer{binary.BigEndian.Uint64(raw), math.Float64frombits(binary.BigEndian.Uint64(raw[8:]))}, true, nil
}

func writeBest(jb *bolt.Bucket, p pointer) error {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:], p.step)
	binary.BigEndian.PutUint64(b[8:], math.Float64bits(p.value))
	return jb.Put(keyBest, b[:])
}

// candidate is the value of the job's best metric in metrics; a missing or
// NaN value never makes a checkpoint the best.
func candidate(rec JobRecord, metrics map[string]float64) (float64, bool) {
	v, ok := metrics[rec.bestMetric()]
	return v, ok && !math.IsNaN(v)
}

// better reports whether a beats b; on equal values the earlier step wins,
// so the pointer does not depend on the order checkpoints were saved in.
func better(rec JobRecord, a, b pointer) bool {
	if a.value == b.value {
		return a.step < b.step
	}
	if rec.LowerIsBetter {
		return a.value < b.value
	}
	return a.value > b.value
}

// recomputeBest re-picks the best pointer from every checkpoint that
// verifies, or deletes it when none qualifies.
func recomputeBest(jb *bolt.Bucket, rec JobRecord) error {
	var best pointer
	found := false
	c := jb.Bucket(bucketSteps).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) != 8 {
			continue
		}
		info := infoOf(binary.BigEndian.Uint64(k), v)
		if info.Err != nil {
			continue
		}
		if val, ok := candidate(rec, info.Metrics); ok && (!found || better(rec, pointer{info.Step, val}, best)) {
			best, found = pointer{info.Step, val}, true
		}
	}
	if !found {
		return jb.Delete(keyBest)
	}
	return writeBest(jb, best)
}
