package model

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

type float interface{ ~float32 | ~float64 }

// load copies src into t's backing array, converting to t's dtype.
func load[T float](t *tensor.Dense, src []T) {
	switch d := t.Data().(type) {
	case []float32:
		for i, v := range src {
			d[i] = float32(v)
		}
	case []float64:
		for i, v := range src {
			d[i] = float64(v)
		}
	}
}

// loadPixels writes pixels/255 into t.
func loadPixels(t *tensor.Dense, px []uint8) {
	switch d := t.Data().(type) {
	case []float32:
		for i, v := range px {
			d[i] = float32(v) / 255
		}
	case []float64:
		for i, v := range px {
			d[i] = float64(v) / 255
		}
	}
}

// store copies a graph value (tensor or scalar) into dst, which must have
// its length.
func store[T float](dst []T, v G.Value) error {
	if v == nil {
		return fmt.Errorf("no value was read")
	}
	switch d := v.Data().(type) {
	case []float32:
		if len(d) != len(dst) {
			return fmt.Errorf("value has %d elements, want %d", len(d), len(dst))
		}
		for i, x := range d {
			dst[i] = T(x)
		}
	case []float64:
		if len(d) != len(dst) {
			return fmt.Errorf("value has %d elements, want %d", len(d), len(dst))
		}
		for i, x := range d {
			dst[i] = T(x)
		}
	case float32:
		if len(dst) != 1 {
			return fmt.Errorf("scalar value, want %d elements", len(dst))
		}
		dst[0] = T(d)
	case float64:
		if len(dst) != 1 {
			return fmt.Errorf("scalar value, want %d elements", len(dst))
		}
		dst[0] = T(d)
	default:
		return fmt.Errorf("value of type %T", d)
	}
	return nil
}
