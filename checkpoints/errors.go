package checkpoints

import "errors"

// Sentinel errors. Functions wrap them with the file, job and step at fault;
// test for them with errors.Is.
var (
	// ErrNotFound: no such store file, job, checkpoint or best pointer.
	ErrNotFound = errors.New("checkpoints: not found")
	// ErrCorrupt: a stored or exported value failed its checksum or could not
	// be decoded.
	ErrCorrupt = errors.New("checkpoints: corrupt")
	// ErrLocked: another process held the store file for longer than the lock
	// timeout.
	ErrLocked = errors.New("checkpoints: store locked by another process")
	// ErrNewerFormat: the file or export was written by a newer version of
	// this package; it was left untouched.
	ErrNewerFormat = errors.New("checkpoints: written by a newer format version")
	// ErrNotStore: the file is not a bbolt database, or a bbolt database that
	// is not an fsl checkpoint store; it was left untouched.
	ErrNotStore = errors.New("checkpoints: not an fsl checkpoint store")
)
