package params

import "errors"

// Sentinel errors. Functions wrap them with context; test with errors.Is.
var (
	// ErrLayout reports an invalid layout, or a vector or encoded vector
	// that does not match the expected layout.
	ErrLayout = errors.New("layout mismatch")
	// ErrLength reports a vector whose length is not the expected one.
	ErrLength = errors.New("wrong vector length")
	// ErrNonFinite reports a NaN or an infinity where finite values are
	// required (gradients, shard results).
	ErrNonFinite = errors.New("non-finite value")
	// ErrConfig reports an invalid optimizer or schedule configuration.
	ErrConfig = errors.New("invalid configuration")
	// ErrShard reports a shard index out of range, a duplicate shard or a
	// bad count given to an Aggregator.
	ErrShard = errors.New("invalid shard result")
	// ErrIncomplete reports an Aggregator asked for its mean before every
	// shard arrived.
	ErrIncomplete = errors.New("aggregation incomplete")
	// ErrFormat reports bytes that are not an encoded vector of a known
	// format version and encoding (bad magic, truncated, wrong length).
	ErrFormat = errors.New("bad vector encoding")
	// ErrChecksum reports an encoded vector whose CRC-32C does not match.
	ErrChecksum = errors.New("vector checksum mismatch")
)
