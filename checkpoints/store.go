package checkpoints

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Store is an open checkpoint store. Its methods are safe for concurrent use
// by one process; across processes bbolt's file lock applies (see the package
// doc and WithReleaseBetweenWrites).
type Store struct {
	path string
	cfg  config

	// mu guards db and closed. Held mode: calls share it and bbolt
	// serialises writers. Release mode: calls take it exclusively, since two
	// opens of the file by one process would lock each other out.
	mu     sync.RWMutex
	db     *bolt.DB // nil in release mode
	closed bool
}

// Open opens the store at path. Without WithReadOnly a missing file is
// created, atomically: readers never see a half-initialised store. An
// existing file is first checked read-only; a file that is not a bbolt
// database gives ErrNotStore, one written by a newer fsl gives
// ErrNewerFormat, and neither is ever opened for writing. If another process
// holds the file for longer than the lock timeout, Open gives ErrLocked.
func Open(path string, opts ...Option) (*Store, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if path == "" {
		return nil, errors.New("open checkpoint store: empty path")
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if cfg.readOnly {
			return nil, fmt.Errorf("open checkpoint store %q: %w: no such file", path, ErrNotFound)
		}
		if err := create(path, cfg); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("open checkpoint store: %w", err)
	}
	if err := sniff(path); err != nil {
		return nil, err
	}
	s := &Store{path: path, cfg: cfg}
	// Read-only first: a file we do not recognise is never opened for writing.
	db, err := s.openBolt(true)
	if err != nil {
		return nil, err
	}
	if err := s.runTx(db, false, func(tx *bolt.Tx) error { return checkFormat(path, tx) }); err != nil {
		db.Close()
		return nil, err
	}
	if cfg.release {
		return s, db.Close()
	}
	if !cfg.readOnly {
		if err := db.Close(); err != nil {
			return nil, fmt.Errorf("open checkpoint store %q: %w", path, err)
		}
		if db, err = s.openBolt(false); err != nil {
			return nil, err
		}
		// The file may have been replaced between the two opens.
		if err := s.runTx(db, false, func(tx *bolt.Tx) error { return checkFormat(path, tx) }); err != nil {
			db.Close()
			return nil, err
		}
	}
	s.db = db
	return s, nil
}

// Path is the file the store was opened from.
func (s *Store) Path() string { return s.path }

// Close releases the file. Calls after Close fail; a second Close is a no-op.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.db == nil {
		return nil
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close checkpoint store %q: %w", s.path, err)
	}
	return nil
}

func (s *Store) openBolt(readOnly bool) (*bolt.DB, error) {
	mode := "writing"
	if readOnly {
		mode = "reading"
	}
	db, err := bolt.Open(s.path, s.cfg.fileMode, &bolt.Options{
		Timeout:  s.cfg.lockTimeout,
		ReadOnly: readOnly,
	})
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("open checkpoint store %q for %s: %w: still held after %v, most likely by a running fsl-coord "+
			"that is saving: retry, wait longer (--lock-timeout), or ask the running coordinator instead (--nats)",
			s.path, mode, ErrLocked, s.cfg.lockTimeout)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrVersionMismatch):
		return nil, fmt.Errorf("open checkpoint store %q: %w: bbolt says %v", s.path, ErrNotStore, err)
	default:
		return nil, fmt.Errorf("open checkpoint store %q for %s: %w", s.path, mode, err)
	}
}

// view and update run fn in one read or write transaction.
func (s *Store) view(fn func(*bolt.Tx) error) error { return s.do(false, fn) }

func (s *Store) update(fn func(*bolt.Tx) error) error {
	if s.cfg.readOnly {
		return fmt.Errorf("checkpoint store %q is open read-only: %w", s.path, berrors.ErrDatabaseReadOnly)
	}
	return s.do(true, fn)
}

func (s *Store) do(write bool, fn func(*bolt.Tx) error) (err error) {
	if s.cfg.release {
		s.mu.Lock()
		defer s.mu.Unlock()
	} else {
		s.mu.RLock()
		defer s.mu.RUnlock()
	}
	if s.closed {
		return fmt.Errorf("checkpoint store %q is closed", s.path)
	}
	if !s.cfg.release {
		return s.runTx(s.db, write, fn)
	}
	// The file may have been replaced or cut since the last call.
	if err := sniff(s.path); err != nil {
		return err
	}
	db, err := s.openBolt(!write)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := db.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close checkpoint store %q: %w", s.path, cerr)
		}
	}()
	return s.runTx(db, write, func(tx *bolt.Tx) error {
		if err := checkFormat(s.path, tx); err != nil {
			return err
		}
		return fn(tx)
	})
}

// runTx runs fn in a transaction and turns a panic or memory fault inside
// bbolt (a damaged file) into an error wrapping ErrCorrupt.
func (s *Store) runTx(db *bolt.DB, write bool, fn func(*bolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("checkpoint store %q: %w: bbolt failed reading the file: %v", s.path, ErrCorrupt, r)
		}
	}()
	if write {
		return db.Update(fn)
	}
	return db.View(fn)
}

// create makes a new, initialised store at path. The store is built under a
// temporary name in the same directory and linked into place, so a crash
// leaves either no file or a complete one, and a file that appeared
// meanwhile is never overwritten.
func create(path string, cfg config) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".new-*")
	if err != nil {
		return fmt.Errorf("create checkpoint store %q: %w", path, err)
	}
	name := tmp.Name()
	defer os.Remove(name)
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("create checkpoint store %q: %w", path, err)
	}
	db, err := bolt.Open(name, cfg.fileMode, &bolt.Options{Timeout: cfg.lockTimeout})
	if err != nil {
		return fmt.Errorf("create checkpoint store %q: %w", path, err)
	}
	if err := db.Update(initStore); err != nil {
		db.Close()
		return fmt.Errorf("create checkpoint store %q: %w", path, err)
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("create checkpoint store %q: %w", path, err)
	}
	if err := os.Chmod(name, cfg.fileMode); err != nil {
		return fmt.Errorf("create checkpoint store %q: %w", path, err)
	}
	if err := os.Link(name, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil // another process created it first; Open checks it
		}
		return fmt.Errorf("create checkpoint store %q: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		defer d.Close()
		if err := d.Sync(); err != nil {
			return fmt.Errorf("create checkpoint store %q: sync directory: %w", path, err)
		}
	}
	return nil
}
