package wire

import (
	"hash/crc32"
	"time"

	"github.com/fsl-project/fsl/params"
)

// castagnoli is the CRC-32C table; CRC-32C is hardware-accelerated on amd64
// and arm64, so checksumming a multi-megabyte message costs little.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encoder writes a message body with params' codec (the one fsl's
// checkpoints use too), adding the wire's own field shapes: u32-length
// strings, byte slices and arrays, durations as i64 nanoseconds.
type encoder struct {
	params.Encoder
	start int // where the frame starts in Bytes
}

func (e *encoder) dur(v time.Duration) { e.Int(int(v)) }

func (e *encoder) str(field, s string) {
	e.Len32(field, len(s))
	e.Raw([]byte(s))
}

func (e *encoder) bytes(field string, p []byte) {
	e.Len32(field, len(p))
	e.Raw(p)
}

func (e *encoder) i32s(field string, v []int32) {
	e.Len32(field, len(v))
	for _, x := range v {
		e.U32(uint32(x))
	}
}

// f32s writes a u32 length, zero bytes up to the next multiple of 4 from
// the frame's start, and the values: a receiver that keeps the frame may
// use them where they lie.
func (e *encoder) f32s(field string, v []float32) {
	e.Len32(field, len(v))
	for (len(e.Bytes())-e.start)%4 != 0 {
		e.U8(0)
	}
	e.Float32s(v)
}

// decoder reads what encoder wrote. Every slice it returns is a fresh copy,
// so decoded messages never alias the input, except float arrays when
// shared is set (see params.Decoder.Float32sShared).
type decoder struct {
	params.Decoder
	base   int // the frame offset of the decoder's first byte
	shared bool
}

func (d *decoder) dur(field string) time.Duration { return time.Duration(d.Int(field)) }

func (d *decoder) str(field string) string {
	return string(d.Take(field, d.Len32(field, 1)))
}

// bytes returns nil for an empty field, so nil and empty slices round-trip
// alike.
func (d *decoder) bytes(field string) []byte {
	p := d.Take(field, d.Len32(field, 1))
	if len(p) == 0 {
		return nil
	}
	return append([]byte(nil), p...)
}

func (d *decoder) i32s(field string) []int32 {
	n := d.Len32(field, 4)
	if n == 0 {
		return nil
	}
	v := make([]int32, n)
	for i := range v {
		v[i] = int32(d.U32(field))
	}
	return v
}

func (d *decoder) f32s(field string) params.Vector {
	n := d.Len32(field, 4)
	if pad := (4 - (d.base+d.Offset())%4) % 4; pad > 0 {
		for _, b := range d.Take(field, pad) {
			if b != 0 {
				d.Failf(field, "padding byte %#x, want 0", b)
				return nil
			}
		}
	}
	if d.shared {
		return d.Float32sShared(field, n)
	}
	return d.Float32s(field, n)
}

// uint reads a u64 that must fit a non-negative Go int (steps, versions).
func (d *decoder) uint(field string) int {
	v := d.U64(field)
	if v > uint64(maxInt) {
		d.Failf(field, "value %d overflows int", v)
		return 0
	}
	return int(v)
}

const maxInt = int(^uint(0) >> 1)
