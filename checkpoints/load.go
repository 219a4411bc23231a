package checkpoints

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// decodeStored fully verifies the value stored under step.
func decodeStored(job string, step uint64, raw []byte) (*Checkpoint, error) {
	c, err := decodeCheckpoint(raw)
	if err == nil && c.Step != step {
		err = corrupt("value holds step %d", c.Step)
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint of job %q at step %d: %w", job, step, err)
	}
	return c, nil
}

// At returns job's checkpoint at step, verified: ErrNotFound when there is
// none, ErrCorrupt (naming job and step) when it fails verification.
func (s *Store) At(job string, step uint64) (*Checkpoint, error) {
	var c *Checkpoint
	err := s.view(func(tx *bolt.Tx) error {
		jb, _, err := jobBucket(tx, job)
		if err != nil {
			return err
		}
		raw := jb.Bucket(bucketSteps).Get(stepKey(step))
		if raw == nil {
			return fmt.Errorf("checkpoint of job %q at step %d: %w", job, step, ErrNotFound)
		}
		c, err = decodeStored(job, step, raw)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("load from %q: %w", s.path, err)
	}
	return c, nil
}

// Latest returns job's newest checkpoint that verifies. Newer checkpoints
// that fail verification are skipped, each logged at warning level through
// the WithLogger logger with its job, step and error. It gives ErrNotFound
// when the job has no checkpoint, and ErrCorrupt when none verifies.
func (s *Store) Latest(job string) (*Checkpoint, error) {
	var (
		c       *Checkpoint
		skipped []error
	)
	err := s.view(func(tx *bolt.Tx) error {
		skipped = skipped[:0]
		jb, _, err := jobBucket(tx, job)
		if err != nil {
			return err
		}
		cur := jb.Bucket(bucketSteps).Cursor()
		for k, v := cur.Last(); k != nil; k, v = cur.Prev() {
			if len(k) != 8 {
				continue
			}
			c, err = decodeStored(job, binary.BigEndian.Uint64(k), v)
			if err == nil {
				return nil
			}
			skipped = append(skipped, err)
		}
		if len(skipped) > 0 {
			return fmt.Errorf("job %q: %w: none of its %d checkpoints verifies; newest failure: %w", job, ErrCorrupt, len(skipped), skipped[0])
		}
		return fmt.Errorf("job %q has no checkpoint: %w", job, ErrNotFound)
	})
	for _, e := range skipped {
		s.cfg.logger.Warn("skipping corrupt checkpoint", "store", s.path, "job", job, "err", e)
	}
	if err != nil {
		return nil, fmt.Errorf("load latest from %q: %w", s.path, err)
	}
	return c, nil
}

// Best returns the target of job's best pointer, verified. It gives
// ErrNotFound when no checkpoint has the job's best metric, and ErrCorrupt
// when the best one fails verification (Best does not fall back; use List
// to choose another).
func (s *Store) Best(job string) (*Checkpoint, error) {
	var c *Checkpoint
	err := s.view(func(tx *bolt.Tx) error {
		jb, rec, err := jobBucket(tx, job)
		if err != nil {
			return err
		}
		best, ok, err := readBest(jb)
		if err != nil {
			return fmt.Errorf("job %q: %w", job, err)
		}
		if !ok {
			return fmt.Errorf("job %q has no checkpoint with metric %q: %w", job, rec.bestMetric(), ErrNotFound)
		}
		raw := jb.Bucket(bucketSteps).Get(stepKey(best.step))
		if raw == nil {
			return fmt.Errorf("job %q: %w: best pointer names step %d, which is missing", job, ErrCorrupt, best.step)
		}
		c, err = decodeStored(job, best.step, raw)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("load best from %q: %w", s.path, err)
	}
	return c, nil
}

// List describes job's checkpoints in step order without loading their
// vectors. Each value's checksums are verified; one that fails is listed
// with Err set rather than failing the whole list.
func (s *Store) List(job string) ([]Info, error) {
	var out []Info
	err := s.view(func(tx *bolt.Tx) error {
		out = out[:0]
		jb, _, err := jobBucket(tx, job)
		if err != nil {
			return err
		}
		best, hasBest, err := readBest(jb)
		if err != nil {
			return fmt.Errorf("job %q: %w", job, err)
		}
		cur := jb.Bucket(bucketSteps).Cursor()
		for k, v := cur.First(); k != nil; k, v = cur.Next() {
			if len(k) != 8 {
				return fmt.Errorf("job %q: %w: step key of %d bytes", job, ErrCorrupt, len(k))
			}
			info := infoOf(binary.BigEndian.Uint64(k), v)
			if info.Err != nil {
				info.Err = fmt.Errorf("checkpoint of job %q at step %d: %w", job, info.Step, info.Err)
			}
			info.Best = hasBest && best.step == info.Step
			out = append(out, info)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list checkpoints in %q: %w", s.path, err)
	}
	return out, nil
}
