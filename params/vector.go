package params

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"unsafe"
)

// Vector is a flat float32 parameter, gradient or state vector laid out by a
// Layout.
type Vector []float32

// New returns a zero vector of the layout's size.
func New(l Layout) Vector {
	return make(Vector, l.Size())
}

// Clone returns a copy of v that shares no memory with it. Clone of nil is
// nil.
func (v Vector) Clone() Vector {
	if v == nil {
		return nil
	}
	return append(Vector(make([]float32, 0, len(v))), v...)
}

// Equal reports whether v and w hold the same bits: same length and, at each
// index, the same float32 bit pattern. So NaN equals a NaN with the same
// payload and +0 differs from -0; this is the equality of reproducible runs,
// not of numbers.
func (v Vector) Equal(w Vector) bool {
	if len(v) != len(w) {
		return false
	}
	for i := range v {
		if math.Float32bits(v[i]) != math.Float32bits(w[i]) {
			return false
		}
	}
	return true
}

// SHA256 is the hex SHA-256 of v's values as little-endian float32 bytes.
// Two runs ended with the same parameters exactly when these match.
func (v Vector) SHA256() string {
	h := sha256.New()
	var buf [4096]byte
	for i := 0; i < len(v); {
		n := 0
		for ; i < len(v) && n < len(buf); i++ {
			binary.LittleEndian.PutUint32(buf[n:], math.Float32bits(v[i]))
			n += 4
		}
		h.Write(buf[:n])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// FirstNonFinite returns the index of the first NaN or infinity in v, or -1
// when every value is finite. It is fsl's one finiteness check: results,
// batches of statistics and checkpoints all go through it.
func (v Vector) FirstNonFinite() int {
	// A value is NaN or ±Inf exactly when its exponent bits are all ones;
	// adding 1 to the exponent then carries into the sign bit. Two values
	// are checked per 64-bit word (the low one's carry stops at bit 31),
	// blocks of 16 values without a branch per value (results of 100,000
	// values cross the network every shard); the block with one is searched.
	const exp, one = 0x7f800000, 0x00800000
	const exp2, one2, sign2 = exp<<32 | exp, one<<32 | one, 0x80000000_80000000
	i := 0 // every value before i is finite
	if len(v) >= 32 {
		if uintptr(unsafe.Pointer(&v[0]))%8 != 0 { // align the words
			if math.Float32bits(v[0])&exp == exp {
				return 0
			}
			i = 1
		}
		w := unsafe.Slice((*uint64)(unsafe.Pointer(&v[i])), (len(v)-i)/2)
		k := 0
		for ; k+8 <= len(w); k += 8 {
			b := w[k : k+8 : k+8]
			m := (b[0]&exp2 + one2) | (b[1]&exp2 + one2) | (b[2]&exp2 + one2) | (b[3]&exp2 + one2) |
				(b[4]&exp2 + one2) | (b[5]&exp2 + one2) | (b[6]&exp2 + one2) | (b[7]&exp2 + one2)
			if m&sign2 != 0 {
				break
			}
		}
		i += 2 * k
	}
	for ; i < len(v); i++ {
		if math.Float32bits(v[i])&exp == exp {
			return i
		}
	}
	return -1
}

// CheckFinite returns an error wrapping ErrNonFinite naming the first NaN or
// infinite value, or nil when all are finite.
func (v Vector) CheckFinite() error {
	if i := v.FirstNonFinite(); i >= 0 {
		return fmt.Errorf("params: value %d is %v: %w", i, v[i], ErrNonFinite)
	}
	return nil
}

// globalNorm is the L2 norm of v, accumulated in float64 in index order. It
// is NaN or +Inf when v holds a NaN or an infinity.
func globalNorm(v Vector) float64 {
	var s float64
	for _, x := range v {
		f := float64(x)
		s += float64(f * f)
	}
	return math.Sqrt(s)
}
