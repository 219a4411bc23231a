package checkpoints

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/fnv"
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
//	jobs/<id>/history/<step u64 BE> one applied step (see history.go); the
//	                    bucket appears with the first record, and older
//	                    builds ignore it
//	queue/<id>          a serving coordinator's queue entry of job id:
//	                    u8 version | u32 CRC-32C | the coordinator's JSON
//	                    (see queue.go); older builds ignore the bucket
var (
	bucketMeta  = []byte("meta")
	bucketJobs  = []byte("jobs")
	bucketSteps = []byte("steps")
	keyFormat   = []byte("format")
	keyKind     = []byte("kind")
	keyRecord   = []byte("record")
	keyBest     = []byte("best")
)

// bbolt's meta page: a 16-byte page header, then magic u32, version u32,
// pageSize u32, flags u32, root bucket (pgid u64, sequence u64), freelist
// pgid u64, pgid u64 (pages in use), txid u64, and an FNV-64a checksum of
// the 56 bytes before it; native byte order.
const (
	boltMagic     = 0xED0CDAED
	boltVersion   = 2
	boltMetaAt    = 16
	boltMetaLen   = 64
	boltPageGuess = 4096
)

type boltMeta struct {
	pageSize uint32
	pgid     uint64
	txid     uint64
}

// readBoltMeta parses and validates the meta page at off.
func readBoltMeta(f *os.File, off int64) (boltMeta, bool) {
	var m [boltMetaLen]byte
	if n, _ := f.ReadAt(m[:], off+boltMetaAt); n != len(m) {
		return boltMeta{}, false
	}
	ne := binary.NativeEndian
	if ne.Uint32(m[0:]) != boltMagic || ne.Uint32(m[4:]) != boltVersion {
		return boltMeta{}, false
	}
	h := fnv.New64a()
	h.Write(m[:56])
	if h.Sum64() != ne.Uint64(m[56:]) {
		return boltMeta{}, false
	}
	return boltMeta{pageSize: ne.Uint32(m[8:]), pgid: ne.Uint64(m[40:]), txid: ne.Uint64(m[48:])}, true
}

// sniff reads the meta pages of path and rejects files that are not bbolt
// databases, or are cut short of the pages their meta says are in use,
// before bbolt maps them (bbolt would read past the end). It never writes.
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
	// Meta page 1 sits one page after meta page 0, whose size is unknown
	// when page 0 is damaged; then try the default.
	m0, ok0 := readBoltMeta(f, 0)
	second := int64(boltPageGuess)
	if ok0 {
		second = int64(m0.pageSize)
	}
	m1, ok1 := readBoltMeta(f, second)
	var m boltMeta
	switch {
	case ok0 && ok1:
		m = m0
		if m1.txid > m0.txid {
			m = m1
		}
	case ok0:
		m = m0
	case ok1:
		m = m1
	default:
		return fmt.Errorf("open checkpoint store %q: %w: the file is not a bbolt database (no valid bbolt meta page)", path, ErrNotStore)
	}
	if m.pageSize < 512 || m.pageSize&(m.pageSize-1) != 0 {
		return fmt.Errorf("open checkpoint store %q: %w: bbolt page size %d is invalid", path, ErrNotStore, m.pageSize)
	}
	// The size is read again after the meta pages: a writer in another
	// process (release-between-writes stores) grows the file before it
	// writes a meta page that counts the new pages, so a size read before
	// the meta could be older than it and call a healthy file truncated.
	if st, err = f.Stat(); err != nil {
		return fmt.Errorf("open checkpoint store %q: %w", path, err)
	}
	if st.Size() < 4*int64(m.pageSize) {
		return fmt.Errorf("open checkpoint store %q: %w: the file is truncated (%d bytes, page size %d)", path, ErrNotStore, st.Size(), m.pageSize)
	}
	if m.pgid > uint64(st.Size())/uint64(m.pageSize) {
		return fmt.Errorf("open checkpoint store %q: %w: the file is truncated: bbolt uses %d pages of %d bytes, the file holds %d bytes",
			path, ErrCorrupt, m.pgid, m.pageSize, st.Size())
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
