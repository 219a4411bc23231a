package wire

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"time"

	"github.com/fsl-project/fsl/params"
)

// castagnoli is the CRC-32C table; CRC-32C is hardware-accelerated on amd64
// and arm64, so checksumming a multi-megabyte message costs little.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// maxLen is the largest length prefix: lengths are u32.
const maxLen = math.MaxUint32

// encoder appends little-endian fields to b. The first failure sticks in err
// and later writes are skipped.
type encoder struct {
	b   []byte
	err error
	typ Type
}

func (e *encoder) u8(v uint8) { e.b = append(e.b, v) }

func (e *encoder) boolean(v bool) {
	if v {
		e.u8(1)
	} else {
		e.u8(0)
	}
}

func (e *encoder) u32(v uint32) { e.b = binary.LittleEndian.AppendUint32(e.b, v) }
func (e *encoder) u64(v uint64) { e.b = binary.LittleEndian.AppendUint64(e.b, v) }
func (e *encoder) i64(v int64)  { e.u64(uint64(v)) }

// int writes a Go int as i64, so 32- and 64-bit peers agree.
func (e *encoder) int(v int)           { e.i64(int64(v)) }
func (e *encoder) dur(v time.Duration) { e.i64(int64(v)) }
func (e *encoder) f64(v float64)       { e.u64(math.Float64bits(v)) }
func (e *encoder) length(field string, n int) {
	if uint64(n) > maxLen {
		if e.err == nil {
			e.err = fmt.Errorf("wire: encode %s: field %s has %d elements, more than %d: %w", e.typ, field, n, uint64(maxLen), ErrTooLarge)
		}
		n = 0
	}
	e.u32(uint32(n))
}

func (e *encoder) str(field, s string) {
	e.length(field, len(s))
	if e.err == nil {
		e.b = append(e.b, s...)
	}
}

func (e *encoder) bytes(field string, p []byte) {
	e.length(field, len(p))
	if e.err == nil {
		e.b = append(e.b, p...)
	}
}

func (e *encoder) i32s(field string, v []int32) {
	e.length(field, len(v))
	if e.err != nil {
		return
	}
	for _, x := range v {
		e.u32(uint32(x))
	}
}

func (e *encoder) f32s(field string, v []float32) {
	e.length(field, len(v))
	if e.err != nil {
		return
	}
	off := len(e.b)
	e.b = append(e.b, make([]byte, 4*len(v))...)
	dst := e.b[off:]
	for i, x := range v {
		binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(x))
	}
}

// decoder reads little-endian fields from b starting at off. The first
// failure sticks in err; later reads return zero values. Every slice it
// returns is a fresh copy, so decoded messages never alias the input.
type decoder struct {
	b   []byte
	off int
	err error
	typ Type
}

func (d *decoder) fail(field, format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("wire: decode %s: field %s: %s: %w", d.typ, field, fmt.Sprintf(format, args...), ErrMalformed)
	}
}

func (d *decoder) remaining() int { return len(d.b) - d.off }

// take returns the next n bytes, or nil after recording an error when fewer
// remain.
func (d *decoder) take(field string, n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > d.remaining() {
		d.fail(field, "needs %d bytes at offset %d, %d remain", n, d.off, d.remaining())
		return nil
	}
	p := d.b[d.off : d.off+n]
	d.off += n
	return p
}

func (d *decoder) u8(field string) uint8 {
	p := d.take(field, 1)
	if p == nil {
		return 0
	}
	return p[0]
}

func (d *decoder) boolean(field string) bool {
	switch v := d.u8(field); v {
	case 0:
		return false
	case 1:
		return true
	default:
		d.fail(field, "boolean byte is %d, want 0 or 1", v)
		return false
	}
}

func (d *decoder) u32(field string) uint32 {
	p := d.take(field, 4)
	if p == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(p)
}

func (d *decoder) u64(field string) uint64 {
	p := d.take(field, 8)
	if p == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(p)
}

func (d *decoder) i64(field string) int64 { return int64(d.u64(field)) }

// int reads an i64 and refuses values a Go int on this platform cannot hold.
func (d *decoder) int(field string) int {
	v := d.i64(field)
	if int64(int(v)) != v {
		d.fail(field, "value %d overflows int", v)
		return 0
	}
	return int(v)
}

func (d *decoder) dur(field string) time.Duration { return time.Duration(d.i64(field)) }
func (d *decoder) f64(field string) float64       { return math.Float64frombits(d.u64(field)) }

// count reads a u32 element count and checks that count elements of size
// bytes fit in what remains, so no allocation exceeds the input's length.
func (d *decoder) count(field string, size int) int {
	n := d.u32(field)
	if d.err != nil {
		return 0
	}
	if uint64(n)*uint64(size) > uint64(d.remaining()) {
		d.fail(field, "length %d of %d-byte elements exceeds the %d bytes remaining", n, size, d.remaining())
		return 0
	}
	return int(n)
}

func (d *decoder) str(field string) string {
	n := d.count(field, 1)
	return string(d.take(field, n))
}

// bytes returns nil for an empty field, so nil and empty slices round-trip
// alike.
func (d *decoder) bytes(field string) []byte {
	n := d.count(field, 1)
	p := d.take(field, n)
	if len(p) == 0 {
		return nil
	}
	return append([]byte(nil), p...)
}

func (d *decoder) i32s(field string) []int32 {
	n := d.count(field, 4)
	p := d.take(field, 4*n)
	if len(p) == 0 {
		return nil
	}
	v := make([]int32, n)
	for i := range v {
		v[i] = int32(binary.LittleEndian.Uint32(p[4*i:]))
	}
	return v
}

func (d *decoder) f32s(field string) params.Vector {
	n := d.count(field, 4)
	p := d.take(field, 4*n)
	if len(p) == 0 {
		return nil
	}
	v := make(params.Vector, n)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(p[4*i:]))
	}
	return v
}
