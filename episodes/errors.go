package episodes

import "errors"

// Sentinel errors callers can branch on with errors.Is; every returned error
// wraps one of these (or an I/O error) with the file, row or value at fault.
var (
	// ErrFormat: a file or archive does not have the layout its loader
	// expects (not an Omniglot zip, a malformed CSV row, an undecodable image).
	ErrFormat = errors.New("bad dataset format")
	// ErrMissing: an image the layout promises is absent (a character with
	// a missing drawing, a CSV row naming a file that does not exist).
	ErrMissing = errors.New("missing dataset file")
	// ErrEmpty: a dataset or split holds no classes or images.
	ErrEmpty = errors.New("empty dataset or split")
	// ErrConfig: a sampler or open option cannot be satisfied by the
	// dataset (more ways than classes, more shots+queries than images).
	ErrConfig = errors.New("bad sampler or dataset option")
	// ErrChecksum: a downloaded file does not match its expected checksum.
	ErrChecksum = errors.New("checksum mismatch")
)
