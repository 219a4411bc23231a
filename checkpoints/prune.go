package checkpoints

import (
	"encoding/binary"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// Prune deletes job's checkpoints except the keepLast newest that verify,
// the keepBest best that verify (by the job's metric), and always the best
// pointer's target, in one transaction. Checkpoints that fail verification
// are deleted unless the best pointer names them. It returns the deleted
// steps in ascending order. bbolt reuses the freed pages; the file does not
// shrink.
func (s *Store) Prune(job string, keepLast, keepBest int) ([]uint64, error) {
	if keepLast < 0 || keepBest < 0 {
		return nil, fmt.Errorf("prune job %q: keep-last %d and keep-best %d must not be negative", job, keepLast, keepBest)
	}
	var deleted []uint64
	err := s.update(func(tx *bolt.Tx) error {
		deleted = deleted[:0]
		jb, rec, err := jobBucket(tx, job)
		if err != nil {
			return err
		}
		best, hasBest, err := readBest(jb)
		if err != nil {
			return fmt.Errorf("job %q: %w", job, err)
		}
		keep := map[uint64]bool{}
		if hasBest {
			keep[best.step] = true
		}
		var valid []uint64 // ascending
		var ranked []pointer
		steps := jb.Bucket(bucketSteps)
		cur := steps.Cursor()
		for k, v := cur.First(); k != nil; k, v = cur.Next() {
			if len(k) != 8 {
				continue
			}
			info := infoOf(binary.BigEndian.Uint64(k), v)
			if info.Err != nil {
				continue
			}
			valid = append(valid, info.Step)
			if val, ok := candidate(rec, info.Metrics); ok {
				ranked = append(ranked, pointer{info.Step, val})
			}
		}
		for i := len(valid) - 1; i >= 0 && i >= len(valid)-keepLast; i-- {
			keep[valid[i]] = true
		}
		slices.SortFunc(ranked, func(a, b pointer) int {
			switch {
			case better(rec, a, b):
				return -1
			case better(rec, b, a):
				return 1
			}
			return 0
		})
		for _, p := range ranked[:min(keepBest, len(ranked))] {
			keep[p.step] = true
		}
		var doomed [][]byte
		for k, _ := cur.First(); k != nil; k, _ = cur.Next() {
			if len(k) == 8 && !keep[binary.BigEndian.Uint64(k)] {
				doomed = append(doomed, slices.Clone(k))
			}
		}
		for _, k := range doomed {
			if err := steps.Delete(k); err != nil {
				return err
			}
			deleted = append(deleted, binary.BigEndian.Uint64(k))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("prune job %q in %q: %w", job, s.path, err)
	}
	return deleted, nil
}

// Rollback deletes every checkpoint of job after step after and, in the same
// transaction, replaces the job's record with what update makes of it (the
// coordinator records its new lineage there), then re-picks the best
// checkpoint among those left. Either all of it happens or none: a crash
// cannot leave the discarded checkpoints behind a record that says they
// are gone. It returns the deleted steps in ascending order.
func (s *Store) Rollback(job string, after uint64, update func(*JobRecord)) ([]uint64, error) {
	var deleted []uint64
	err := s.update(func(tx *bolt.Tx) error {
		deleted = deleted[:0]
		jb, rec, err := jobBucket(tx, job)
		if err != nil {
			return err
		}
		steps := jb.Bucket(bucketSteps)
		var doomed [][]byte
		cur := steps.Cursor()
		for k, _ := cur.First(); k != nil; k, _ = cur.Next() {
			if len(k) == 8 && binary.BigEndian.Uint64(k) > after {
				doomed = append(doomed, slices.Clone(k))
			}
		}
		for _, k := range doomed {
			if err := steps.Delete(k); err != nil {
				return err
			}
			deleted = append(deleted, binary.BigEndian.Uint64(k))
		}
		if update != nil {
			update(&rec)
			if rec.ID != job {
				return fmt.Errorf("update changed the job ID to %q", rec.ID)
			}
			if err := validateRecord(rec); err != nil {
				return err
			}
		}
		if err := putRecord(jb, rec, s.cfg.now()); err != nil {
			return err
		}
		return recomputeBest(jb, rec)
	})
	if err != nil {
		return nil, fmt.Errorf("roll back job %q in %q to step %d: %w", job, s.path, after, err)
	}
	return deleted, nil
}
