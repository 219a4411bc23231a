package checkpoints

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// An export is one checkpoint with its job record, self-describing and
// versioned, all integers little-endian:
//
//	"FSLCKEXP" | version u16 | flags u16 (0) | reserved u32 (0)
//	jobLen u32 | job record as JSON (the store's own record form)
//	valueLen u64 | the checkpoint value exactly as stored (see codec.go)
//	SHA-256 [32] over every byte before it
//
// The value keeps its own CRC and parameter hash, so an import stores
// byte-identical parameters and state.
const (
	exportMagic   = "FSLCKEXP"
	exportVersion = 1
	exportPrefix  = 16
	// maxJobRecordBytes bounds the job record an import will read.
	maxJobRecordBytes = 16 << 20
	// readChunk is how much an import allocates ahead of the data it has
	// actually read, so a lying length cannot force a huge allocation.
	readChunk = 1 << 20
)

// Export writes job's checkpoint at step to w in the export format, after
// verifying it. ErrNotFound and ErrCorrupt as for At.
func (s *Store) Export(job string, step uint64, w io.Writer) error {
	var recJSON, raw []byte
	err := s.view(func(tx *bolt.Tx) error {
		jb, rec, err := jobBucket(tx, job)
		if err != nil {
			return err
		}
		v := jb.Bucket(bucketSteps).Get(stepKey(step))
		if v == nil {
			return fmt.Errorf("checkpoint of job %q at step %d: %w", job, step, ErrNotFound)
		}
		if _, err := decodeStored(job, step, v); err != nil {
			return err
		}
		raw = slices.Clone(v)
		recJSON, err = encodeJob(rec)
		return err
	})
	if err != nil {
		return fmt.Errorf("export from %q: %w", s.path, err)
	}
	if err := writeExport(w, recJSON, raw); err != nil {
		return fmt.Errorf("export checkpoint of job %q at step %d: %w", job, step, err)
	}
	return nil
}

// ExportFile exports to path atomically: a temporary file beside it is
// written, synced and renamed over path.
func (s *Store) ExportFile(job string, step uint64, path string) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("export to %q: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := s.Export(job, step, f); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("export to %q: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("export to %q: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("export to %q: %w", path, err)
	}
	return nil
}

func writeExport(w io.Writer, recJSON, raw []byte) error {
	h := sha256.New()
	mw := io.MultiWriter(w, h)
	var pre [exportPrefix + 4]byte
	copy(pre[:], exportMagic)
	binary.LittleEndian.PutUint16(pre[8:], exportVersion)
	binary.LittleEndian.PutUint32(pre[16:], uint32(len(recJSON)))
	if _, err := mw.Write(pre[:]); err != nil {
		return err
	}
	if _, err := mw.Write(recJSON); err != nil {
		return err
	}
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(raw)))
	if _, err := mw.Write(n[:]); err != nil {
		return err
	}
	if _, err := mw.Write(raw); err != nil {
		return err
	}
	_, err := w.Write(h.Sum(nil))
	return err
}

// Import reads one export from r and stores its checkpoint in one
// transaction, returning its job and step. A job the store lacks is created
// from the export's record; an existing job keeps its record, and the import
// is refused when the two layouts differ. A checkpoint already stored at
// that step is replaced. The export is fully verified before anything is
// written: ErrCorrupt when it fails, ErrNewerFormat when a newer fsl wrote it.
func (s *Store) Import(r io.Reader) (job string, step uint64, err error) {
	rec, raw, c, err := readExport(r)
	if err != nil {
		return "", 0, fmt.Errorf("import into %q: %w", s.path, err)
	}
	now := s.cfg.now()
	err = s.update(func(tx *bolt.Tx) error {
		jobs := tx.Bucket(bucketJobs)
		target := rec
		if jobs.Bucket([]byte(rec.ID)) == nil {
			jb, err := jobs.CreateBucket([]byte(rec.ID))
			if err != nil {
				return err
			}
			if _, err := jb.CreateBucket(bucketSteps); err != nil {
				return err
			}
			if err := putRecord(jb, rec, now); err != nil {
				return err
			}
		} else {
			_, existing, err := jobBucket(tx, rec.ID)
			if err != nil {
				return err
			}
			if len(existing.Layout.Entries) > 0 && len(rec.Layout.Entries) > 0 && !existing.Layout.Equal(rec.Layout) {
				return fmt.Errorf("job %q exists with another parameter layout (%d values, export has %d)",
					rec.ID, existing.Layout.Size(), rec.Layout.Size())
			}
			target = existing
		}
		if n := target.Layout.Size(); len(target.Layout.Entries) > 0 && n != len(c.Params) {
			return fmt.Errorf("job %q: checkpoint has %d parameters, the job's layout has %d", rec.ID, len(c.Params), n)
		}
		jb, _, err := jobBucket(tx, rec.ID)
		if err != nil {
			return err
		}
		return putValue(jb, target, c.Step, raw, c.Metrics, now)
	})
	if err != nil {
		return "", 0, fmt.Errorf("import job %q step %d into %q: %w", rec.ID, c.Step, s.path, err)
	}
	return rec.ID, c.Step, nil
}

// ReadExport reads one export (Store.Export) without storing it: the job's
// record and its checkpoint, fully verified as Import verifies them
// (ErrCorrupt, ErrNewerFormat).
func ReadExport(r io.Reader) (JobRecord, *Checkpoint, error) {
	rec, _, c, err := readExport(r)
	if err != nil {
		return JobRecord{}, nil, fmt.Errorf("read export: %w", err)
	}
	return rec, c, nil
}

// readExport parses and fully verifies one export. Allocations stay within
// a small multiple of the bytes actually read.
func readExport(r io.Reader) (JobRecord, []byte, *Checkpoint, error) {
	h := sha256.New()
	tr := io.TeeReader(r, h)
	var pre [exportPrefix + 4]byte
	if _, err := io.ReadFull(tr, pre[:]); err != nil {
		return JobRecord{}, nil, nil, exportError("reading its header", err)
	}
	if !bytes.Equal(pre[:8], []byte(exportMagic)) {
		return JobRecord{}, nil, nil, fmt.Errorf("%w: not an fsl checkpoint export (starts with %q, want %q)", ErrCorrupt, pre[:8], exportMagic)
	}
	if v := binary.LittleEndian.Uint16(pre[8:]); v != exportVersion {
		if v > exportVersion {
			return JobRecord{}, nil, nil, fmt.Errorf("%w: export format %d, this build reads %d; upgrade fsl", ErrNewerFormat, v, exportVersion)
		}
		return JobRecord{}, nil, nil, corrupt("export format %d is unknown", v)
	}
	if f := binary.LittleEndian.Uint16(pre[10:]); f != 0 {
		return JobRecord{}, nil, nil, corrupt("export flags %#x are unknown", f)
	}
	if reserved := binary.LittleEndian.Uint32(pre[12:]); reserved != 0 {
		return JobRecord{}, nil, nil, corrupt("export reserved field is %#x, want 0", reserved)
	}
	jobLen := uint64(binary.LittleEndian.Uint32(pre[16:]))
	if jobLen > maxJobRecordBytes {
		return JobRecord{}, nil, nil, corrupt("job record of %d bytes, limit %d", jobLen, maxJobRecordBytes)
	}
	recJSON, err := readN(tr, jobLen)
	if err != nil {
		return JobRecord{}, nil, nil, exportError("reading the job record", err)
	}
	var n [8]byte
	if _, err := io.ReadFull(tr, n[:]); err != nil {
		return JobRecord{}, nil, nil, exportError("reading the checkpoint length", err)
	}
	valueLen := binary.LittleEndian.Uint64(n[:])
	if valueLen > maxValueBytes {
		return JobRecord{}, nil, nil, corrupt("checkpoint of %d bytes, limit %d", valueLen, maxValueBytes)
	}
	raw, err := readN(tr, valueLen)
	if err != nil {
		return JobRecord{}, nil, nil, exportError("reading the checkpoint", err)
	}
	want := h.Sum(nil)
	var got [32]byte
	if _, err := io.ReadFull(r, got[:]); err != nil {
		return JobRecord{}, nil, nil, exportError("reading its checksum", err)
	}
	if !bytes.Equal(got[:], want) {
		return JobRecord{}, nil, nil, corrupt("export SHA-256 mismatch")
	}
	var extra [1]byte
	if m, _ := io.ReadFull(r, extra[:]); m != 0 {
		return JobRecord{}, nil, nil, corrupt("bytes follow the export's checksum")
	}
	rec, err := decodeJob(recJSON)
	if err != nil {
		return JobRecord{}, nil, nil, err
	}
	c, err := decodeCheckpoint(raw)
	if err != nil {
		return JobRecord{}, nil, nil, fmt.Errorf("checkpoint of job %q in export: %w", rec.ID, err)
	}
	return rec, raw, c, nil
}

func exportError(doing string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return corrupt("export is truncated (%s)", doing)
	}
	return fmt.Errorf("read export: %s: %w", doing, err)
}

// readN reads exactly n bytes, growing its buffer only as data arrives.
func readN(r io.Reader, n uint64) ([]byte, error) {
	buf := make([]byte, 0, min(n, readChunk))
	for uint64(len(buf)) < n {
		want := int(min(n-uint64(len(buf)), readChunk))
		buf = slices.Grow(buf, want)
		m, err := io.ReadFull(r, buf[len(buf):len(buf)+want])
		buf = buf[:len(buf)+m]
		if err != nil {
			return nil, err
		}
	}
	return buf, nil
}
