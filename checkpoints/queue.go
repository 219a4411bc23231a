package checkpoints

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	bolt "go.etcd.io/bbolt"
)

// A serving coordinator (fsl-coord serve) keeps its queue of jobs in the
// store, one entry per job (queue/<id>), so that a restarted process knows
// every queued, running, paused and finished job. The entry's body is the
// coordinator's (JSON); the store adds a checksum and checks it on every
// read.
var bucketQueue = []byte("queue")

// queueVersion is the first byte of a stored entry: the layout below.
const queueVersion = 1

// QueueEntry is one job of a serving coordinator's queue.
type QueueEntry struct {
	ID   string
	Body []byte
}

// encodeQueueEntry lays body out as u8 version | u32 CRC-32C of body (big
// endian) | body.
func encodeQueueEntry(body []byte) []byte {
	b := make([]byte, 0, 5+len(body))
	b = append(b, queueVersion)
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(body, castagnoli))
	return append(b, body...)
}

var errShortQueue = errors.New("entry cut short")

// decodeQueueEntry reads what encodeQueueEntry wrote for job id.
func decodeQueueEntry(id string, b []byte) ([]byte, error) {
	if len(b) < 5 {
		return nil, fmt.Errorf("%w: queue entry of job %q: %d bytes, %w", ErrCorrupt, id, len(b), errShortQueue)
	}
	if b[0] != queueVersion {
		return nil, fmt.Errorf("%w: queue entry of job %q: entry version %d, this build reads %d", ErrCorrupt, id, b[0], queueVersion)
	}
	body := b[5:]
	if got, want := crc32.Checksum(body, castagnoli), binary.BigEndian.Uint32(b[1:]); got != want {
		return nil, fmt.Errorf("%w: queue entry of job %q: checksum %08x, stored %08x", ErrCorrupt, id, got, want)
	}
	return append([]byte(nil), body...), nil
}

// PutQueueEntry stores (or replaces) the queue entry of job id.
func (s *Store) PutQueueEntry(id string, body []byte) error {
	if id == "" {
		return fmt.Errorf("put queue entry in %q: empty job ID", s.path)
	}
	v := encodeQueueEntry(body)
	err := s.update(func(tx *bolt.Tx) error {
		qb, err := tx.CreateBucketIfNotExists(bucketQueue)
		if err != nil {
			return err
		}
		return qb.Put([]byte(id), v)
	})
	if err != nil {
		return fmt.Errorf("put queue entry of job %q in %q: %w", id, s.path, err)
	}
	return nil
}

// DeleteQueueEntry removes job id's queue entry; none is not an error.
func (s *Store) DeleteQueueEntry(id string) error {
	err := s.update(func(tx *bolt.Tx) error {
		qb := tx.Bucket(bucketQueue)
		if qb == nil {
			return nil
		}
		return qb.Delete([]byte(id))
	})
	if err != nil {
		return fmt.Errorf("delete queue entry of job %q in %q: %w", id, s.path, err)
	}
	return nil
}

// QueueEntries returns every queue entry, by job ID. An entry that does not
// decode is left out and logged: one damaged entry must not hide the rest
// of the queue (its job's checkpoints are still in the store).
func (s *Store) QueueEntries() ([]QueueEntry, error) {
	var out []QueueEntry
	err := s.view(func(tx *bolt.Tx) error {
		out = out[:0]
		qb := tx.Bucket(bucketQueue)
		if qb == nil {
			return nil
		}
		return qb.ForEach(func(k, v []byte) error {
			body, err := decodeQueueEntry(string(k), v)
			if err != nil {
				s.cfg.logger.Warn("skipping corrupt queue entry", "store", s.path, "err", err)
				return nil
			}
			out = append(out, QueueEntry{ID: string(k), Body: body})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("queue of %q: %w", s.path, err)
	}
	return out, nil
}
