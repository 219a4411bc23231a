package params

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"
)

// The one binary codec of fsl's vectors and of the messages and records that
// carry them: wire's protocol messages and the checkpoint store's values are
// both written with an Encoder and read with a Decoder. Every integer is
// little-endian; a float32 is its IEEE-754 bits, so values cross the network
// and the disk bit for bit. Each format lays out its own fields (and its own
// framing, lengths and checksums) with these primitives.

// Encoder appends fields to a byte slice. The first failure sticks: later
// writes are skipped and Err reports it. The zero value appends to nil.
type Encoder struct {
	b   []byte
	err error
}

// NewEncoder returns an Encoder appending to dst (which may be nil; give it
// capacity to write without reallocating).
func NewEncoder(dst []byte) *Encoder { return &Encoder{b: dst} }

// Bytes returns everything written so far, dst's prefix included.
func (e *Encoder) Bytes() []byte { return e.b }

// Err is the first failure, or nil.
func (e *Encoder) Err() error { return e.err }

// Fail records err as the encoder's failure unless one is already recorded.
func (e *Encoder) Fail(err error) {
	if e.err == nil {
		e.err = err
	}
}

// U8 writes one byte.
func (e *Encoder) U8(v uint8) { e.b = append(e.b, v) }

// Bool writes 1 for true and 0 for false.
func (e *Encoder) Bool(v bool) {
	if v {
		e.U8(1)
	} else {
		e.U8(0)
	}
}

// U16 writes v in 2 bytes.
func (e *Encoder) U16(v uint16) { e.b = binary.LittleEndian.AppendUint16(e.b, v) }

// U32 writes v in 4 bytes.
func (e *Encoder) U32(v uint32) { e.b = binary.LittleEndian.AppendUint32(e.b, v) }

// U64 writes v in 8 bytes.
func (e *Encoder) U64(v uint64) { e.b = binary.LittleEndian.AppendUint64(e.b, v) }

// Int writes a Go int as 8 bytes, so 32- and 64-bit peers agree.
func (e *Encoder) Int(v int) { e.U64(uint64(int64(v))) }

// F64 writes v's IEEE-754 bits in 8 bytes.
func (e *Encoder) F64(v float64) { e.U64(math.Float64bits(v)) }

// Raw writes p as it is, with no length.
func (e *Encoder) Raw(p []byte) { e.b = append(e.b, p...) }

// Len32 writes n as a u32 length prefix of field. A length beyond 2^32-1
// fails the encoder with an error wrapping ErrTooLong and writes 0.
func (e *Encoder) Len32(field string, n int) {
	if uint64(n) > math.MaxUint32 {
		e.Fail(fmt.Errorf("field %s has %d elements, more than %d: %w", field, n, uint64(math.MaxUint32), ErrTooLong))
		n = 0
	}
	e.U32(uint32(n))
}

// Float32s writes the values of v, 4 bytes each, with no length.
func (e *Encoder) Float32s(v []float32) {
	off := len(e.b)
	e.b = growBy(e.b, 4*len(v))
	putFloat32s(e.b[off:], v, nativeLittle)
}

// nativeLittle reports whether this machine lays a float32's bytes out in
// the codec's order (little-endian, as amd64 and arm64 do): then a vector is
// encoded and decoded by one copy of its memory, the same bytes the
// value-by-value loop writes.
var nativeLittle = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// floatBytes is v's memory as bytes.
func floatBytes(v []float32) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), 4*len(v))
}

// putFloat32s writes v little-endian into dst (4*len(v) bytes): one copy
// when bulk (the machine is little-endian), else value by value.
func putFloat32s(dst []byte, v []float32, bulk bool) {
	if bulk {
		copy(dst, floatBytes(v))
		return
	}
	for i, x := range v {
		binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(x))
	}
}

// getFloat32s reads len(v) little-endian values from src into v; see
// putFloat32s.
func getFloat32s(v []float32, src []byte, bulk bool) {
	if bulk {
		copy(floatBytes(v), src)
		return
	}
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
	}
}

// growBy extends b by n bytes (contents unspecified, overwritten by the
// caller), reallocating at most once.
func growBy(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), 2*len(b)+n)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}

// Decoder reads fields from a byte slice. The first failure sticks: later
// reads return zero values and Err reports it. No read panics or allocates
// more than the input's length, whatever the bytes say, and no slice it
// returns aliases the input.
type Decoder struct {
	b   []byte
	off int
	err error
}

// NewDecoder returns a Decoder reading b from its start.
func NewDecoder(b []byte) *Decoder { return &Decoder{b: b} }

// Err is the first failure, or nil. It wraps ErrFormat unless Fail was given
// another error.
func (d *Decoder) Err() error { return d.err }

// Offset is the number of bytes read so far.
func (d *Decoder) Offset() int { return d.off }

// Remaining is the number of bytes not yet read.
func (d *Decoder) Remaining() int { return len(d.b) - d.off }

// Failf records a failure of field, wrapping ErrFormat, unless one is
// already recorded.
func (d *Decoder) Failf(field, format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("field %s: %s: %w", field, fmt.Sprintf(format, args...), ErrFormat)
	}
}

// Take returns the next n bytes of the input (aliasing it), or nil after
// recording a failure when fewer remain.
func (d *Decoder) Take(field string, n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > d.Remaining() {
		d.Failf(field, "needs %d bytes at offset %d, %d remain", n, d.off, d.Remaining())
		return nil
	}
	p := d.b[d.off : d.off+n]
	d.off += n
	return p
}

// U8 reads one byte.
func (d *Decoder) U8(field string) uint8 {
	if p := d.Take(field, 1); p != nil {
		return p[0]
	}
	return 0
}

// Bool reads a byte that must be 0 or 1.
func (d *Decoder) Bool(field string) bool {
	switch v := d.U8(field); v {
	case 0:
		return false
	case 1:
		return true
	default:
		d.Failf(field, "boolean byte is %d, want 0 or 1", v)
		return false
	}
}

// U16 reads 2 bytes.
func (d *Decoder) U16(field string) uint16 {
	if p := d.Take(field, 2); p != nil {
		return binary.LittleEndian.Uint16(p)
	}
	return 0
}

// U32 reads 4 bytes.
func (d *Decoder) U32(field string) uint32 {
	if p := d.Take(field, 4); p != nil {
		return binary.LittleEndian.Uint32(p)
	}
	return 0
}

// U64 reads 8 bytes.
func (d *Decoder) U64(field string) uint64 {
	if p := d.Take(field, 8); p != nil {
		return binary.LittleEndian.Uint64(p)
	}
	return 0
}

// Int reads what Encoder.Int wrote and refuses values a Go int on this
// platform cannot hold.
func (d *Decoder) Int(field string) int {
	v := int64(d.U64(field))
	if int64(int(v)) != v {
		d.Failf(field, "value %d overflows int", v)
		return 0
	}
	return int(v)
}

// F64 reads a float64's IEEE-754 bits.
func (d *Decoder) F64(field string) float64 { return math.Float64frombits(d.U64(field)) }

// Len32 reads a u32 count of field's elements of size bytes each and fails
// when that many cannot fit in what remains, so no caller allocates beyond
// the input's length.
func (d *Decoder) Len32(field string, size int) int {
	n := d.U32(field)
	if d.err != nil {
		return 0
	}
	if uint64(n)*uint64(size) > uint64(d.Remaining()) {
		d.Failf(field, "length %d of %d-byte elements exceeds the %d bytes remaining", n, size, d.Remaining())
		return 0
	}
	return int(n)
}

// Float32sShared reads n values written by Encoder.Float32s as Float32s
// does, except that where they lie 4-byte aligned in memory on a
// little-endian machine the Vector shares the decoder's input instead of
// copying it: for an input that nobody writes to afterwards (a message
// received whole), it saves an allocation and a copy of every value.
func (d *Decoder) Float32sShared(field string, n int) Vector {
	if !nativeLittle {
		return d.Float32s(field, n)
	}
	if n > 0 && d.err == nil && n <= d.Remaining()/4 {
		if ptr := unsafe.Pointer(&d.b[d.off]); uintptr(ptr)%unsafe.Alignof(float32(0)) == 0 {
			d.off += 4 * n
			return unsafe.Slice((*float32)(ptr), n)
		}
	}
	return d.Float32s(field, n)
}

// Float32s reads n values written by Encoder.Float32s into a fresh Vector;
// nil when n is 0 or on failure.
func (d *Decoder) Float32s(field string, n int) Vector {
	p := d.Take(field, 4*n)
	if len(p) == 0 {
		return nil
	}
	v := make(Vector, n)
	getFloat32s(v, p, nativeLittle)
	return v
}
