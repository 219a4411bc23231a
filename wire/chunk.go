package wire

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// chunkMagic is the first byte of a chunk frame. It is not a message Type,
// so a receiver tells chunks from whole frames by their first byte.
const chunkMagic = 0xC5

// Chunk frame layout, little-endian:
//
//	magic u8 | version u8 | sender u64 | message id u64 |
//	index u32 | count u32 | total u32 | data | CRC-32C u32
const (
	chunkHeaderLen = 2 + 8 + 8 + 4 + 4 + 4
	// ChunkOverhead is the bytes a chunk frame adds around its data.
	ChunkOverhead = chunkHeaderLen + 4
	// MinPayload is the smallest max payload Split accepts: room for the
	// chunk frame and at least 64 bytes of data.
	MinPayload = ChunkOverhead + 64
)

// chunk is one decoded chunk frame; data aliases the frame.
type chunk struct {
	sender, id          uint64
	index, count, total uint32
	data                []byte
}

// senderID identifies this process as a publisher of chunks: random, so two
// processes publishing on one subject key their chunks apart.
var senderID = sync.OnceValue(rand.Uint64)

// nextMessageID numbers chunked messages within this process.
var nextMessageID atomic.Uint64

// appendChunk appends the frame of c to dst.
func appendChunk(dst []byte, c chunk) []byte {
	start := len(dst)
	dst = append(dst, chunkMagic, ProtocolVersion)
	dst = binary.LittleEndian.AppendUint64(dst, c.sender)
	dst = binary.LittleEndian.AppendUint64(dst, c.id)
	dst = binary.LittleEndian.AppendUint32(dst, c.index)
	dst = binary.LittleEndian.AppendUint32(dst, c.count)
	dst = binary.LittleEndian.AppendUint32(dst, c.total)
	dst = append(dst, c.data...)
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// decodeChunk parses and verifies one chunk frame. The returned data aliases
// p. It never panics.
func decodeChunk(p []byte) (chunk, error) {
	if len(p) < ChunkOverhead+1 {
		return chunk{}, fmt.Errorf("wire: chunk of %d bytes, shorter than the %d-byte frame plus data: %w", len(p), ChunkOverhead, ErrMalformed)
	}
	body := p[:len(p)-4]
	if got, want := crc32.Checksum(body, castagnoli), binary.LittleEndian.Uint32(p[len(p)-4:]); got != want {
		return chunk{}, fmt.Errorf("wire: chunk of %d bytes: CRC-32C is %08x, frame says %08x: %w", len(p), got, want, ErrChecksum)
	}
	if p[0] != chunkMagic {
		return chunk{}, fmt.Errorf("wire: chunk: first byte %#x is not the chunk marker %#x: %w", p[0], chunkMagic, ErrUnknownType)
	}
	if p[1] != ProtocolVersion {
		return chunk{}, fmt.Errorf("wire: chunk: protocol version %d, this build speaks %d: %w", p[1], ProtocolVersion, ErrProtocolVersion)
	}
	c := chunk{
		sender: binary.LittleEndian.Uint64(p[2:]),
		id:     binary.LittleEndian.Uint64(p[10:]),
		index:  binary.LittleEndian.Uint32(p[18:]),
		count:  binary.LittleEndian.Uint32(p[22:]),
		total:  binary.LittleEndian.Uint32(p[26:]),
		data:   body[chunkHeaderLen:],
	}
	switch {
	case c.count == 0:
		return chunk{}, fmt.Errorf("wire: chunk %d/%d of message %x/%x: zero count: %w", c.index, c.count, c.sender, c.id, ErrMalformed)
	case c.index >= c.count:
		return chunk{}, fmt.Errorf("wire: chunk %d/%d of message %x/%x: index out of range: %w", c.index, c.count, c.sender, c.id, ErrMalformed)
	case uint64(len(c.data)) > uint64(c.total):
		return chunk{}, fmt.Errorf("wire: chunk %d/%d of message %x/%x: %d data bytes, more than the message's %d: %w",
			c.index, c.count, c.sender, c.id, len(c.data), c.total, ErrMalformed)
	case uint64(c.count) > uint64(c.total):
		return chunk{}, fmt.Errorf("wire: chunk %d/%d of message %x/%x: more chunks than the message's %d bytes: %w",
			c.index, c.count, c.sender, c.id, c.total, ErrMalformed)
	}
	return c, nil
}

// Split encodes m into the payloads to publish when the server accepts at
// most maxPayload bytes per message: one plain frame when it fits, else
// chunk frames of at most maxPayload bytes each. maxPayload must be at least
// MinPayload.
func Split(m Message, maxPayload int) ([][]byte, error) {
	enc, err := Encode(m)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	err = EachPayload(enc, maxPayload, m.Type(), func(p []byte) error {
		out = append(out, append([]byte(nil), p...))
		return nil
	})
	return out, err
}

// EachPayload calls publish with each payload of enc, reusing one buffer:
// publish must copy what it keeps (nats.Conn.Publish does).
func EachPayload(enc []byte, maxPayload int, t Type, publish func([]byte) error) error {
	if len(enc) <= maxPayload {
		return publish(enc)
	}
	if maxPayload < MinPayload {
		return fmt.Errorf("wire: send %s of %d bytes: max payload %d is below the %d bytes chunking needs", t, len(enc), maxPayload, MinPayload)
	}
	if uint64(len(enc)) > math.MaxUint32 {
		return fmt.Errorf("wire: send %s: %d bytes, more than a chunked message may hold (%d): %w", t, len(enc), uint64(math.MaxUint32), ErrTooLarge)
	}
	per := maxPayload - ChunkOverhead
	count := (len(enc) + per - 1) / per
	c := chunk{sender: senderID(), id: nextMessageID.Add(1), count: uint32(count), total: uint32(len(enc))}
	buf := make([]byte, 0, maxPayload)
	for i := 0; i < count; i++ {
		c.index = uint32(i)
		c.data = enc[i*per : min((i+1)*per, len(enc))]
		if err := publish(appendChunk(buf[:0], c)); err != nil {
			return fmt.Errorf("wire: send %s chunk %d/%d: %w", t, i, count, err)
		}
	}
	return nil
}
