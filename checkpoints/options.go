package checkpoints

import (
	"log/slog"
	"os"
	"time"
)

// DefaultLockTimeout is how long Open and, with WithReleaseBetweenWrites,
// each call waits for another process to release the file.
const DefaultLockTimeout = 2 * time.Second

// Option configures Open.
type Option func(*config)

type config struct {
	readOnly    bool
	release     bool
	lockTimeout time.Duration
	logger      *slog.Logger
	now         func() time.Time
	fileMode    os.FileMode
}

func defaultConfig() config {
	return config{
		lockTimeout: DefaultLockTimeout,
		logger:      slog.New(slog.DiscardHandler),
		now:         time.Now,
		fileMode:    0o644,
	}
}

// WithReadOnly opens the store for reading only: the file is opened O_RDONLY
// under a shared lock, is never created, and every write method fails.
// Without WithReleaseBetweenWrites the shared lock is held until Close, and
// a writer waits for it; long-lived readers should release too.
func WithReadOnly() Option { return func(c *config) { c.readOnly = true } }

// WithReleaseBetweenWrites makes the Store hold the bbolt file only for the
// duration of each call: open, one transaction, close. Other processes can
// open the file between calls (readers with WithReadOnly, or `checkpoints
// prune`). Each Save stays a single fsync'd transaction; the cost is one
// open/mmap/close per call (see BenchmarkSaveCheckpoint).
func WithReleaseBetweenWrites() Option { return func(c *config) { c.release = true } }

// WithLockTimeout sets how long an open waits for another process to release
// the file before failing with ErrLocked. Values <= 0 keep DefaultLockTimeout;
// bbolt's own "wait forever" is deliberately not reachable.
func WithLockTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.lockTimeout = d
		}
	}
}

// WithLogger sets where warnings go, such as Latest skipping a corrupt
// checkpoint. The default discards them.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// WithClock sets the clock used for Created and Updated times (tests).
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}
