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

// loadPixels writes pixels/255 into t [C N H W] from px, n images of c
// planes of hw bytes each, image after image (params.Batch's layout): plane
// ch of image i lands at (ch·n + i)·hw. For one channel the two layouts are
// the same.
func loadPixels(t *tensor.Dense, px []uint8, c, hw int) {
	switch d := t.Data().(type) {
	case []float32:
		planesToChannels(d, px, c, hw)
	case []float64:
		planesToChannels(d, px, c, hw)
	}
}

func planesToChannels[T float](d []T, px []uint8, c, hw int) {
	if c == 1 {
		for i, v := range px {
			d[i] = T(v) / 255
		}
		return
	}
	n := len(px) / (c * hw)
	for i := 0; i < n; i++ {
		for ch := 0; ch < c; ch++ {
			src := px[(i*c+ch)*hw : (i*c+ch+1)*hw]
			dst := d[(ch*n+i)*hw : (ch*n+i+1)*hw]
			for j, v := range src {
				dst[j] = T(v) / 255
			}
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
