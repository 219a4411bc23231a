package params

import "fmt"

// EMA moves running statistics toward a new observation in place:
//
//	dst[i] = (1-m)*dst[i] + m*src[i]
//
// so momentum m is the weight of the new value (PyTorch's batch-norm
// convention; m = 0.1 is common), m = 0 keeps dst and m = 1 copies src.
// It is computed in float64 per value and rounded to float32, without FMA,
// so the same inputs give the same bits everywhere. It fails, leaving dst
// untouched, if the lengths differ or m is outside [0, 1].
func EMA(dst, src Vector, momentum float32) error {
	if len(dst) != len(src) {
		return fmt.Errorf("params: ema: dst length %d, src length %d: %w", len(dst), len(src), ErrLength)
	}
	if !(momentum >= 0 && momentum <= 1) {
		return fmt.Errorf("params: ema: momentum %v, want a value in [0, 1]: %w", momentum, ErrConfig)
	}
	m := float64(momentum)
	k := 1 - m
	for i, s := range src {
		dst[i] = float32(float64(k*float64(dst[i])) + float64(m*float64(s)))
	}
	return nil
}
