package checkpoints

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// HistoryRecord is one applied step of a job's training history: what a
// dashboard draws and `fsl-coord history` exports. Records live beside the
// checkpoints (jobs/<id>/history/<step>), so a finished or restarted job's
// curves survive its coordinator.
type HistoryRecord struct {
	Step uint64
	// Time is when the step was applied (wall clock, to the nanosecond).
	Time time.Time
	// Loss is the step's mean training loss.
	Loss float64
	// ImagesPerSecond is the throughput when the step was applied.
	ImagesPerSecond float64
	// Workers is how many workers the coordinator knew.
	Workers int
	// Metrics are the validation metrics measured at this step, nil when
	// it was not validated.
	Metrics map[string]float64
}

var bucketHistory = []byte("history")

// historyVersion is the first byte of a stored record: the layout below.
const historyVersion = 1

// Limits of a record, checked when encoding so every stored record decodes.
const (
	maxHistoryMetrics = 64
	maxMetricName     = 255
)

// encodeHistory lays r out as
//
//	u8 version (1) | i64 unix nanoseconds | f64 loss | f64 images/s |
//	u32 workers | u8 metric count | per metric, sorted by name:
//	u8 name length | name | f64 value
//
// big-endian, floats as IEEE-754 bits. About 40 bytes per step.
func encodeHistory(r HistoryRecord) ([]byte, error) {
	if len(r.Metrics) > maxHistoryMetrics {
		return nil, fmt.Errorf("history of step %d: %d metrics, at most %d", r.Step, len(r.Metrics), maxHistoryMetrics)
	}
	if r.Workers < 0 || int64(r.Workers) > math.MaxUint32 {
		return nil, fmt.Errorf("history of step %d: %d workers", r.Step, r.Workers)
	}
	names := make([]string, 0, len(r.Metrics))
	for k := range r.Metrics {
		if len(k) == 0 || len(k) > maxMetricName {
			return nil, fmt.Errorf("history of step %d: metric name %q is empty or longer than %d bytes", r.Step, k, maxMetricName)
		}
		names = append(names, k)
	}
	slices.Sort(names)
	b := make([]byte, 0, 30+len(names)*16)
	b = append(b, historyVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Time.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, math.Float64bits(r.Loss))
	b = binary.BigEndian.AppendUint64(b, math.Float64bits(r.ImagesPerSecond))
	b = binary.BigEndian.AppendUint32(b, uint32(r.Workers))
	b = append(b, byte(len(names)))
	for _, k := range names {
		b = append(b, byte(len(k)))
		b = append(b, k...)
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(r.Metrics[k]))
	}
	return b, nil
}

var errShortHistory = errors.New("record cut short")

// decodeHistory reads what encodeHistory wrote for step.
func decodeHistory(step uint64, b []byte) (HistoryRecord, error) {
	r := HistoryRecord{Step: step}
	if len(b) < 30 {
		return r, fmt.Errorf("%w: history of step %d: %d bytes, %w", ErrCorrupt, step, len(b), errShortHistory)
	}
	if b[0] != historyVersion {
		return r, fmt.Errorf("%w: history of step %d: record version %d, this build reads %d", ErrCorrupt, step, b[0], historyVersion)
	}
	r.Time = time.Unix(0, int64(binary.BigEndian.Uint64(b[1:])))
	r.Loss = math.Float64frombits(binary.BigEndian.Uint64(b[9:]))
	r.ImagesPerSecond = math.Float64frombits(binary.BigEndian.Uint64(b[17:]))
	r.Workers = int(binary.BigEndian.Uint32(b[25:]))
	n := int(b[29])
	b = b[30:]
	if n > maxHistoryMetrics {
		return r, fmt.Errorf("%w: history of step %d: %d metrics, at most %d", ErrCorrupt, step, n, maxHistoryMetrics)
	}
	if n > 0 {
		r.Metrics = make(map[string]float64, n)
	}
	prev := ""
	for i := range n {
		if len(b) < 1 || len(b) < 1+int(b[0])+8 {
			return r, fmt.Errorf("%w: history of step %d: metric %d: %w", ErrCorrupt, step, i, errShortHistory)
		}
		k := string(b[1 : 1+int(b[0])])
		if k == "" || (i > 0 && k <= prev) {
			return r, fmt.Errorf("%w: history of step %d: metric names out of order or empty", ErrCorrupt, step)
		}
		r.Metrics[k] = math.Float64frombits(binary.BigEndian.Uint64(b[1+len(k):]))
		prev = k
		b = b[1+len(k)+8:]
	}
	if len(b) != 0 {
		return r, fmt.Errorf("%w: history of step %d: %d bytes after the record", ErrCorrupt, step, len(b))
	}
	return r, nil
}

// AppendHistory stores recs in job's history in one transaction (a record
// already stored at a step is replaced: a resumed job recomputes the steps
// after its checkpoint, to the same values). Batch records: with
// WithReleaseBetweenWrites each call opens the file and syncs once.
func (s *Store) AppendHistory(job string, recs []HistoryRecord) error {
	if len(recs) == 0 {
		return nil
	}
	vals := make([][]byte, len(recs))
	for i, r := range recs {
		var err error
		if vals[i], err = encodeHistory(r); err != nil {
			return fmt.Errorf("append history of job %q: %w", job, err)
		}
	}
	err := s.update(func(tx *bolt.Tx) error {
		jb, _, err := jobBucket(tx, job)
		if err != nil {
			return err
		}
		hb, err := jb.CreateBucketIfNotExists(bucketHistory)
		if err != nil {
			return err
		}
		for i, r := range recs {
			if err := hb.Put(stepKey(r.Step), vals[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("append history of job %q to %q: %w", job, s.path, err)
	}
	return nil
}

// History returns job's history by step, oldest first; none (and no error)
// for a job that has none yet. A record that does not decode is left out
// and logged: a damaged point must not hide the rest of the curve.
func (s *Store) History(job string) ([]HistoryRecord, error) {
	var out []HistoryRecord
	err := s.view(func(tx *bolt.Tx) error {
		out = out[:0]
		jb, _, err := jobBucket(tx, job)
		if err != nil {
			return err
		}
		hb := jb.Bucket(bucketHistory)
		if hb == nil {
			return nil
		}
		return hb.ForEach(func(k, v []byte) error {
			if len(k) != 8 {
				s.cfg.logger.Warn("skipping history record with a bad key", "store", s.path, "job", job, "key_bytes", len(k))
				return nil
			}
			r, err := decodeHistory(binary.BigEndian.Uint64(k), v)
			if err != nil {
				s.cfg.logger.Warn("skipping corrupt history record", "store", s.path, "job", job, "err", err)
				return nil
			}
			out = append(out, r)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("history of job %q in %q: %w", job, s.path, err)
	}
	return out, nil
}
