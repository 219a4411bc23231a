package params

import "math"

// toBF16 rounds a float32 to bfloat16 (1 sign, 8 exponent, 7 mantissa bits)
// to nearest, ties to even. The relative error of a finite normal value is at
// most 2^-8 (about 0.4%); values beyond bf16's largest finite value
// (about 3.39e38) round to infinity; NaN stays NaN.
func toBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		// NaN: truncate, setting the quiet bit only when the mantissa bits
		// kept are all zero (it would read as infinity otherwise), so that
		// every bf16 NaN survives a widen-and-round trip unchanged.
		h := uint16(b >> 16)
		if h&0x7f == 0 {
			h |= 0x40
		}
		return h
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// fromBF16 widens a bfloat16 to float32 exactly.
func fromBF16(h uint16) float32 {
	return math.Float32frombits(uint32(h) << 16)
}

// RoundBF16 returns v with every value rounded to bfloat16 precision as the
// BFloat16 encoding would, so that a sender can keep the exact values its
// receiver will decode.
func RoundBF16(v Vector) Vector {
	out := make(Vector, len(v))
	for i, x := range v {
		out[i] = fromBF16(toBF16(x))
	}
	return out
}
