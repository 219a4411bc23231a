package episodes

import (
	"bytes"
	"errors"
	"testing"
)

func TestDecodeImageMatchesTheLoaders(t *testing.T) {
	// Black strokes on white, like Omniglot: a dark diagonal on 105×105.
	data := pngBytes(t, 105, 105, func(x, y int) uint8 {
		if x == y || x == y+1 {
			return 0
		}
		return 255
	})
	for _, invert := range []bool{true, false} {
		got, err := DecodeImage(data, 28, invert)
		if err != nil {
			t.Fatal(err)
		}
		want, err := decodeImage(data, 28, 1, invert, &scalerCache{})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("invert %v: DecodeImage differs from the loaders' decode", invert)
		}
		// The top-right corner is far from the stroke: white, 0 once inverted.
		if corner := got[27]; (invert && corner != 0) || (!invert && corner != 255) {
			t.Errorf("invert %v: corner pixel %d", invert, corner)
		}
	}
	small := pngBytes(t, 2, 1, func(x, y int) uint8 { return uint8(200 * x) })
	if got, err := DecodeImage(small, 1, false); err != nil || len(got) != 1 {
		t.Errorf("2×1 to 1×1: %v, %v", got, err)
	}
	if got, err := DecodeImage(pngBytes(t, 2, 2, func(x, y int) uint8 { return uint8(10 * (x + 2*y)) }), 2, true); err != nil ||
		!bytes.Equal(got, []uint8{255, 245, 235, 225}) {
		t.Errorf("same size, inverted: %v, %v", got, err)
	}
}

func TestDecodeImageRejectsBadInput(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		size int
		want error
	}{
		{"not an image", []byte("hello"), 28, ErrFormat},
		{"truncated PNG", pngBytes(t, 4, 4, func(x, y int) uint8 { return 0 })[:30], 28, ErrFormat},
		{"size zero", pngBytes(t, 4, 4, func(x, y int) uint8 { return 0 }), 0, ErrConfig},
		{"size too large", pngBytes(t, 4, 4, func(x, y int) uint8 { return 0 }), 5000, ErrConfig},
	}
	for _, tc := range tests {
		if _, err := DecodeImage(tc.data, tc.size, true); !errors.Is(err, tc.want) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.want)
		}
	}
}
