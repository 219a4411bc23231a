package params

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
)

// Encoding is the payload format of an encoded vector.
type Encoding uint8

const (
	// Float32 stores each value as its 4 IEEE-754 bytes: lossless.
	Float32 Encoding = 1
	// BFloat16 stores the high 16 bits of each float32 after rounding to
	// nearest even: half the bytes, about 3 significant decimal digits
	// (relative error <= 2^-8), the float32 exponent range. For transport
	// of gradients where that loss is acceptable, never for checkpoints.
	BFloat16 Encoding = 2
)

// String is "f32", "bf16", or "encoding(N)" for an unknown value.
func (e Encoding) String() string {
	switch e {
	case Float32:
		return "f32"
	case BFloat16:
		return "bf16"
	}
	return fmt.Sprintf("encoding(%d)", uint8(e))
}

// ParseEncoding reads "f32" (or "float32") and "bf16" (or "bfloat16").
func ParseEncoding(s string) (Encoding, error) {
	switch s {
	case "f32", "float32":
		return Float32, nil
	case "bf16", "bfloat16":
		return BFloat16, nil
	}
	return 0, fmt.Errorf("params: encoding %q unknown, want \"f32\" or \"bf16\": %w", s, ErrConfig)
}

func (e Encoding) width() int {
	switch e {
	case Float32:
		return 4
	case BFloat16:
		return 2
	}
	return 0
}

// The encoded form, all integers little-endian:
//
//	offset size
//	0      4    magic "FSLV"
//	4      1    format version (1)
//	5      1    encoding (1 = f32, 2 = bf16)
//	6      2    reserved, zero
//	8      4    number of values n (<= MaxLen)
//	12     8    layout hash
//	20     w*n  payload, w = 4 (f32) or 2 (bf16)
//	20+w*n 4    CRC-32C (Castagnoli) of all the bytes before it
const (
	magic         = "FSLV"
	formatVersion = 1
	headerSize    = 20
	trailerSize   = 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// EncodedLen is the size in bytes of an encoded vector of n values.
func EncodedLen(n int, enc Encoding) int {
	return headerSize + enc.width()*n + trailerSize
}

// Encode returns v encoded with enc and tagged with layoutHash (0 when there
// is no layout). enc must be Float32 or BFloat16 and len(v) at most MaxLen;
// anything else is a programming error and panics (validate user choices
// with ParseEncoding).
func Encode(v Vector, layoutHash uint64, enc Encoding) []byte {
	return AppendEncode(make([]byte, 0, EncodedLen(len(v), enc)), v, layoutHash, enc)
}

// AppendEncode appends the encoding of v to dst and returns the extended
// slice; the checksum covers only the appended bytes. It panics as Encode
// does.
func AppendEncode(dst []byte, v Vector, layoutHash uint64, enc Encoding) []byte {
	w := enc.width()
	if w == 0 {
		panic(fmt.Sprintf("params: encode: %v is not a valid encoding", enc))
	}
	if len(v) > MaxLen {
		panic(fmt.Sprintf("params: encode: %d values, more than MaxLen %d", len(v), MaxLen))
	}
	start := len(dst)
	dst = append(dst, magic...)
	dst = append(dst, formatVersion, byte(enc), 0, 0)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(v)))
	dst = binary.LittleEndian.AppendUint64(dst, layoutHash)
	dst = growBy(dst, w*len(v))
	body := dst[len(dst)-w*len(v):]
	switch enc {
	case Float32:
		for i, x := range v {
			binary.LittleEndian.PutUint32(body[4*i:], math.Float32bits(x))
		}
	case BFloat16:
		for i, x := range v {
			binary.LittleEndian.PutUint16(body[2*i:], toBF16(x))
		}
	}
	sum := crc32.Checksum(dst[start:], castagnoli)
	return binary.LittleEndian.AppendUint32(dst, sum)
}

// growBy extends b by n bytes (contents unspecified, overwritten by the
// caller), reallocating at most once.
func growBy(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), len(b)+n+trailerSize)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}

// Decode parses one encoded vector that fills b exactly and returns its
// values (widened to float32 for bf16) and layout hash. It never panics and
// allocates only after the length in the header has been checked against
// len(b). Errors wrap ErrFormat (not a vector, truncated, trailing bytes,
// unknown version or encoding, nonzero reserved bytes, length beyond
// MaxLen) or ErrChecksum (the bytes were altered).
func Decode(b []byte) (Vector, uint64, error) {
	if len(b) < headerSize+trailerSize {
		return nil, 0, fmt.Errorf("params: decode vector: %d bytes, shorter than the %d-byte minimum: %w",
			len(b), headerSize+trailerSize, ErrFormat)
	}
	if string(b[:4]) != magic {
		return nil, 0, fmt.Errorf("params: decode vector: magic %q, want %q: %w", b[:4], magic, ErrFormat)
	}
	body := b[:len(b)-trailerSize]
	want := binary.LittleEndian.Uint32(b[len(b)-trailerSize:])
	if got := crc32.Checksum(body, castagnoli); got != want {
		return nil, 0, fmt.Errorf("params: decode vector: CRC-32C %08x, stored %08x: %w", got, want, ErrChecksum)
	}
	if b[4] != formatVersion {
		return nil, 0, fmt.Errorf("params: decode vector: format version %d, want %d: %w", b[4], formatVersion, ErrFormat)
	}
	enc := Encoding(b[5])
	w := enc.width()
	if w == 0 {
		return nil, 0, fmt.Errorf("params: decode vector: %v unknown: %w", enc, ErrFormat)
	}
	if b[6] != 0 || b[7] != 0 {
		return nil, 0, fmt.Errorf("params: decode vector: reserved bytes %02x%02x, want zero: %w", b[6], b[7], ErrFormat)
	}
	n64 := uint64(binary.LittleEndian.Uint32(b[8:]))
	if n64 > MaxLen {
		return nil, 0, fmt.Errorf("params: decode vector: %d values, more than %d: %w", n64, MaxLen, ErrFormat)
	}
	n := int(n64)
	if got, want := len(b), EncodedLen(n, enc); got != want {
		return nil, 0, fmt.Errorf("params: decode vector: %d bytes for %d %v values, want %d: %w", got, n, enc, want, ErrFormat)
	}
	hash := binary.LittleEndian.Uint64(b[12:])
	payload := body[headerSize:]
	v := make(Vector, n)
	switch enc {
	case Float32:
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(payload[4*i:]))
		}
	case BFloat16:
		for i := range v {
			v[i] = fromBF16(binary.LittleEndian.Uint16(payload[2*i:]))
		}
	}
	return v, hash, nil
}

// DecodeFor decodes b and checks it against layout l: the stored hash must
// be l.Hash() and the length l.Size(), else the error wraps ErrLayout.
func DecodeFor(b []byte, l Layout) (Vector, error) {
	v, h, err := Decode(b)
	if err != nil {
		return nil, err
	}
	if want := l.Hash(); h != want {
		return nil, fmt.Errorf("params: decode vector: layout hash %016x, want %016x: %w", h, want, ErrLayout)
	}
	if len(v) != l.Size() {
		return nil, fmt.Errorf("params: decode vector: %d values, layout has %d: %w", len(v), l.Size(), ErrLayout)
	}
	return v, nil
}
