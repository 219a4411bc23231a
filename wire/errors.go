package wire

import "errors"

// Sentinel errors callers branch on with errors.Is. Errors returned by this
// package wrap them with the message type, field or subject at fault.
var (
	// ErrChecksum means a message or chunk failed its CRC-32C check: it was
	// corrupted in flight or is not an fsl message at all.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrMalformed means the bytes passed the checksum but do not describe a
	// valid message: a length runs past the end, trailing bytes, a bad
	// boolean, inconsistent chunk headers.
	ErrMalformed = errors.New("malformed message")
	// ErrUnknownType means the type byte names no message this build knows.
	ErrUnknownType = errors.New("unknown message type")
	// ErrProtocolVersion means the message was encoded by an incompatible
	// protocol version.
	ErrProtocolVersion = errors.New("unsupported protocol version")
	// ErrTooLarge means a message exceeds a size limit: a field over 4 GiB
	// when encoding, or a chunked message over the receiver's limits.
	ErrTooLarge = errors.New("message too large")
	// ErrStaleVersion is returned by Request when the responder answered with
	// an Error of code CodeStaleVersion: the requested parameter version or
	// step is no longer current.
	ErrStaleVersion = errors.New("stale version")
	// ErrNotFound is returned by Request when the responder answered with an
	// Error of code CodeNotFound (for example, no such checkpoint).
	ErrNotFound = errors.New("not found")
	// ErrWrongClass is returned by Request when the coordinator refuses a
	// worker whose compute class (its canary) is not the job's.
	ErrWrongClass = errors.New("wrong compute class")
	// ErrBanned is returned by Request when the coordinator refuses a
	// worker it banned for the job (see the coordinator's verified results).
	ErrBanned = errors.New("banned for the job")
	// ErrRejected is returned by Request for any other Error reply.
	ErrRejected = errors.New("request rejected")
	// ErrInvalidJob means a job ID cannot be used in a NATS subject.
	ErrInvalidJob = errors.New("invalid job ID")
)
