package params

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// The encoded optimizer state, integers little-endian:
//
//	offset size
//	0      4    magic "FSLS"
//	4      1    format version (1)
//	5      3    reserved, zero
//	8      4    number of vectors k (<= maxStateVectors)
//	12     ...  k frames: uint32 byte length, then one Float32 vector
//	            encoding (see Encode), which has its own CRC-32C
//	end-4  4    CRC-32C (Castagnoli) of all the bytes before it
const (
	stateMagic      = "FSLS"
	stateVersion    = 1
	stateHeaderSize = 12
	maxStateVectors = 16
)

// EncodeState encodes an optimizer's State() as one blob for a checkpoint,
// every vector as lossless float32 tagged with layoutHash.
func EncodeState(state []Vector, layoutHash uint64) []byte {
	if len(state) > maxStateVectors {
		panic(fmt.Sprintf("params: encode state: %d vectors, more than %d", len(state), maxStateVectors))
	}
	size := stateHeaderSize + trailerSize
	for _, v := range state {
		size += 4 + EncodedLen(len(v), Float32)
	}
	b := make([]byte, 0, size)
	b = append(b, stateMagic...)
	b = append(b, stateVersion, 0, 0, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(state)))
	for _, v := range state {
		b = binary.LittleEndian.AppendUint32(b, uint32(EncodedLen(len(v), Float32)))
		b = AppendEncode(b, v, layoutHash, Float32)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// DecodeState decodes what EncodeState wrote, checking every vector against
// layout l (ErrLayout), for Optimizer.SetState. It never panics; errors wrap
// ErrFormat, ErrChecksum or ErrLayout.
func DecodeState(b []byte, l Layout) ([]Vector, error) {
	if len(b) < stateHeaderSize+trailerSize {
		return nil, fmt.Errorf("params: decode state: %d bytes, shorter than the %d-byte minimum: %w",
			len(b), stateHeaderSize+trailerSize, ErrFormat)
	}
	if string(b[:4]) != stateMagic {
		return nil, fmt.Errorf("params: decode state: magic %q, want %q: %w", b[:4], stateMagic, ErrFormat)
	}
	body := b[:len(b)-trailerSize]
	if got, want := crc32.Checksum(body, castagnoli), binary.LittleEndian.Uint32(b[len(b)-trailerSize:]); got != want {
		return nil, fmt.Errorf("params: decode state: CRC-32C %08x, stored %08x: %w", got, want, ErrChecksum)
	}
	if b[4] != stateVersion || b[5] != 0 || b[6] != 0 || b[7] != 0 {
		return nil, fmt.Errorf("params: decode state: version %d, reserved %x, want %d and zero: %w",
			b[4], b[5:8], stateVersion, ErrFormat)
	}
	k := binary.LittleEndian.Uint32(b[8:])
	if k > maxStateVectors {
		return nil, fmt.Errorf("params: decode state: %d vectors, more than %d: %w", k, maxStateVectors, ErrFormat)
	}
	rest := body[stateHeaderSize:]
	state := make([]Vector, 0, k)
	for i := range int(k) {
		if len(rest) < 4 {
			return nil, fmt.Errorf("params: decode state: vector %d: frame length truncated: %w", i, ErrFormat)
		}
		n := binary.LittleEndian.Uint32(rest)
		rest = rest[4:]
		if uint64(n) > uint64(len(rest)) {
			return nil, fmt.Errorf("params: decode state: vector %d: frame of %d bytes, %d left: %w", i, n, len(rest), ErrFormat)
		}
		v, err := DecodeFor(rest[:n], l)
		if err != nil {
			return nil, fmt.Errorf("params: decode state: vector %d: %w", i, err)
		}
		state = append(state, v)
		rest = rest[n:]
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("params: decode state: %d bytes after %d vectors: %w", len(rest), k, ErrFormat)
	}
	return state, nil
}
