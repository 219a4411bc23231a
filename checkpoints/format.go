package checkpoints

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"

	bolt "go.etcd.io/bbolt"
)

// storeFormat is the layout of buckets and values this build writes. A file
// with a larger number is refused with ErrNewerFormat and left untouched.
const (
	storeFormat = 1
	storeKind   = "fsl-checkpoints"
)

// Buckets and keys:
//
//	meta/format         u32 big-endian store format
//	meta/kind           "fsl-checkpoints"
//	jobs/<id>/record    JobRecord as JSON
//	jobs/<id>/best      best pointer: step u64 BE | metric value f64 bits BE
//	jobs/<id>/steps/<step u64 BE>   checkpoint value (see codec.go)
var (
	bucketMeta  = []byte("meta")
	bucketJobs  = []byte("jobs")
	bucketSteps = []byte("steps")
	keyFormat   = []byte("format")
	keyKind     = []byte("kind")
	keyRecord   = []byte("record")
	keyBest     = []byte("best")
)

// bbolt's meta page: a 16-byte page header, then the magic and version.
const (
	boltMagic     = 0xED0CDAED
	boltVersion   = 2
	boltMetaAt    = 16
	boltPageGuess = 4096
)

// sniff reads the start of path and rejects files that cannot be bbolt
// databases, before bbolt maps them. It never writes.
func sniff(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open checkpoint store %q: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("open checkpoint store %q: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("open checkpoint store %q: %w: not a regular file", path, ErrNotStore)
	}
	if st.Size() == 0 {
		return fmt.Errorf("open checkpoint store %q: %w: the file is empty", path, ErrNotStore)
	}
	var pageSize uint32
	for _, at := range []int64{0, boltPageGuess} {
		var meta [12]byte
		if _, err := f.ReadAt(meta[:], at+boltMetaAt); err != nil && err != io.EOF {
			return fmt.Errorf("open checkpoint store %q: %w", path, err)
		}
		if binary.NativeEndian.Uint32(meta[0:]) == boltMagic && binary.NativeEndian.Uint32(meta[4:]) == boltVersion {
			pageSize = binary.NativeEndian.Uint32(meta[8:])
			break
		}
	}
	if pageSize == 0 {
		return fmt.Errorf("open checkpoint store %q: %w: the file is not a bbolt database (no bbolt meta page)", path, ErrNotStore)
	}
	if pageSize < 512 || pageSize&(pageSize-1) != 0 {
		return fmt.Errorf("open checkpoint store %q: %w: bbolt page size %d is invalid", path, ErrNotStore, pageSize)
	}
	// bbolt creates files of at least four pages; a shorter one is truncated
	// and mapping it would fault past the end of the file.
	if st.Size() < 4*int64(pageSize) || st.Size()%int64(pageSize) != 0 {
		return fmt.Errorf("open checkpoint store %q: %w: the file is truncated (%d bytes, page size %d)", path, ErrNotStore, st.Size(), pageSize)
	}
	return nil
}

// checkFormat checks that tx is an fsl checkpoint store this build can read.
func checkFormat(path string, tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil || !bytes.Equal(meta.Get(keyKind), []byte(storeKind)) {
		return fmt.Errorf("open checkpoint store %q: %w: it is a bbolt database without fsl's meta bucket; refusing to touch it", path, ErrNotStore)
	}
	raw := meta.Get(keyFormat)
	if len(raw) != 4 {
		return fmt.Errorf("open checkpoint store %q: %w: meta/format is %d bytes, want 4", path, ErrNotStore, len(raw))
	}
	if v := binary.BigEndian.Uint32(raw); v > storeFormat {
		return fmt.Errorf("open checkpoint store %q: %w: store format %d, this build reads up to %d; upgrade fsl (the file was left untouched)", path, ErrNewerFormat, v, storeFormat)
	} else if v == 0 {
		return fmt.Errorf("open checkpoint store %q: %w: store format 0", path, ErrNotStore)
	}
	if tx.Bucket(bucketJobs) == nil {
		return fmt.Errorf("open checkpoint store %q: %w: the jobs bucket is missing", path, ErrCorrupt)
	}
	return nil
}

// initStore writes the meta and jobs buckets of a new store.
func initStore(tx *bolt.Tx) error {
	meta, err := tx.CreateBucket(bucketMeta)
	if err != nil {
		return err
	}
	var v [4]byte
	binary.BigEndian.PutUint32(v[:], storeFormat)
	if err := meta.Put(keyFormat, v[:]); err != nil {
		return err
	}
	if err := meta.Put(keyKind, []byte(storeKind)); err != nil {
		return err
	}
	_, err = tx.CreateBucket(bucketJobs)
	return err
}
