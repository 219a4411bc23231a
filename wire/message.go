package wire

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/fsl-project/fsl/params"
)

// ProtocolVersion is the version byte this build writes and the only one it
// reads. Bump it when any message layout changes (2: WorkRequest lost
// HaveVersion; 3: Ctl and JoinAck carry the coordinator's Epoch; 4:
// WorkRequest carries the worker's compute-class canary; 5: Lease,
// ParamsRequest, Params and Result carry the parameters' Lineage; 6: float
// arrays start 4-byte aligned from the frame's start, after zero padding).
const ProtocolVersion = 6

// frameOverhead is the type byte, the version byte and the trailing CRC.
const frameOverhead = 2 + 4

// Type identifies a message layout; it is the first byte of every frame.
type Type uint8

// Message types. Values are part of the protocol: never renumber them.
const (
	TypeJoin Type = iota + 1
	TypeJoinAck
	TypeWorkRequest
	TypeLease
	TypeWait
	TypeDone
	TypeResult
	TypeParamsRequest
	TypeParams
	TypeHeartbeat
	TypeCtl
	TypeStatusRequest
	TypeStatus
	TypeCheckpointRequest
	TypeCheckpoint
	TypeError
	TypeCommand
	typeEnd // one past the last valid type
)

var typeNames = [...]string{
	TypeJoin:              "join",
	TypeJoinAck:           "join-ack",
	TypeWorkRequest:       "work-request",
	TypeLease:             "lease",
	TypeWait:              "wait",
	TypeDone:              "done",
	TypeResult:            "result",
	TypeParamsRequest:     "params-request",
	TypeParams:            "params",
	TypeHeartbeat:         "heartbeat",
	TypeCtl:               "ctl",
	TypeStatusRequest:     "status-request",
	TypeStatus:            "status",
	TypeCheckpointRequest: "checkpoint-request",
	TypeCheckpoint:        "checkpoint",
	TypeError:             "error",
	TypeCommand:           "command",
}

// String names the type for errors and logs.
func (t Type) String() string {
	if t > 0 && t < typeEnd {
		return typeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Message is one protocol message. The set is closed: only the pointer
// types of this package (*Join, *Lease, *Result, ...) implement it.
type Message interface {
	// Type is the message's type byte.
	Type() Type
	// sizeHint estimates the encoded body size, to allocate once.
	sizeHint() int
	encode(e *encoder)
	decode(d *decoder)
}

// newMessage returns an empty message of type t, or nil for an unknown type.
func newMessage(t Type) Message {
	switch t {
	case TypeJoin:
		return new(Join)
	case TypeJoinAck:
		return new(JoinAck)
	case TypeWorkRequest:
		return new(WorkRequest)
	case TypeLease:
		return new(Lease)
	case TypeWait:
		return new(Wait)
	case TypeDone:
		return new(Done)
	case TypeResult:
		return new(Result)
	case TypeParamsRequest:
		return new(ParamsRequest)
	case TypeParams:
		return new(Params)
	case TypeHeartbeat:
		return new(Heartbeat)
	case TypeCtl:
		return new(Ctl)
	case TypeStatusRequest:
		return new(StatusRequest)
	case TypeStatus:
		return new(Status)
	case TypeCheckpointRequest:
		return new(CheckpointRequest)
	case TypeCheckpoint:
		return new(Checkpoint)
	case TypeError:
		return new(Error)
	case TypeCommand:
		return new(Command)
	}
	return nil
}

// Encode returns the framed encoding of m: type, version, body, CRC-32C. It
// fails only when a field is longer than 2^32-1 elements (ErrTooLarge).
func Encode(m Message) ([]byte, error) {
	return AppendEncode(nil, m)
}

// AppendEncode appends the framed encoding of m to dst and returns the
// extended slice; on error dst is returned unchanged.
func AppendEncode(dst []byte, m Message) ([]byte, error) {
	start := len(dst)
	// Each float array may be padded by up to 3 bytes; no message has
	// more than a few.
	const padding = 16
	if need := m.sizeHint() + frameOverhead + padding; cap(dst)-start < need {
		grown := make([]byte, start, start+need)
		copy(grown, dst)
		dst = grown
	}
	e := encoder{Encoder: *params.NewEncoder(dst), start: start}
	e.U8(uint8(m.Type()))
	e.U8(ProtocolVersion)
	m.encode(&e)
	if err := e.Err(); err != nil {
		return dst[:start], fmt.Errorf("wire: encode %s: %v: %w", m.Type(), err, ErrTooLarge)
	}
	b := e.Bytes()
	sum := crc32.Checksum(b[start:], castagnoli)
	return binary.LittleEndian.AppendUint32(b, sum), nil
}

// Decode parses one framed message. It checks the CRC first (ErrChecksum),
// then the type (ErrUnknownType) and version (ErrProtocolVersion), then the
// body (ErrMalformed, including trailing bytes). It never panics, and every
// allocation is bounded by len(b). The result does not alias b.
func Decode(b []byte) (Message, error) { return decode(b, false) }

// decodeShared is Decode for a frame nobody writes to afterwards: float
// arrays may share b's memory instead of copying it (a Conv-4 gradient is
// 447 KB).
func decodeShared(b []byte) (Message, error) { return decode(b, true) }

func decode(b []byte, shared bool) (Message, error) {
	if len(b) < frameOverhead {
		return nil, fmt.Errorf("wire: decode: %d bytes, shorter than the %d-byte frame: %w", len(b), frameOverhead, ErrMalformed)
	}
	body := b[:len(b)-4]
	want := binary.LittleEndian.Uint32(b[len(b)-4:])
	if got := crc32.Checksum(body, castagnoli); got != want {
		return nil, fmt.Errorf("wire: decode %d-byte frame: CRC-32C is %08x, frame says %08x: %w", len(b), got, want, ErrChecksum)
	}
	t := Type(b[0])
	m := newMessage(t)
	if m == nil {
		return nil, fmt.Errorf("wire: decode: type byte %d: %w", b[0], ErrUnknownType)
	}
	if b[1] != ProtocolVersion {
		return nil, fmt.Errorf("wire: decode %s: protocol version %d, this build speaks %d: %w", t, b[1], ProtocolVersion, ErrProtocolVersion)
	}
	d := decoder{Decoder: *params.NewDecoder(body[2:]), base: 2, shared: shared}
	m.decode(&d)
	if err := d.Err(); err != nil {
		return nil, fmt.Errorf("wire: decode %s: %v: %w", t, err, ErrMalformed)
	}
	if d.Remaining() != 0 {
		return nil, fmt.Errorf("wire: decode %s: %d trailing bytes after the body: %w", t, d.Remaining(), ErrMalformed)
	}
	return m, nil
}
