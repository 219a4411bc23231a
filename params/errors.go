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
	// ErrFormat reports bytes a Decoder cannot read: truncated, a length
	// beyond the input, a value out of range.
	ErrFormat = errors.New("bad encoding")
	// ErrTooLong reports a field too long for its length prefix.
	ErrTooLong = errors.New("field too long to encode")
)
