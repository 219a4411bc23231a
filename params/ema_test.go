package params

import (
	"errors"
	"testing"
)

func TestEMAMatchesHandComputedValues(t *testing.T) {
	tests := []struct {
		name     string
		dst, src Vector
		m        float32
		want     Vector
	}{
		{"quarter", Vector{1, 2}, Vector{3, 6}, 0.25, Vector{1.5, 3}},
		{"zero keeps", Vector{1, 2}, Vector{3, 6}, 0, Vector{1, 2}},
		{"one copies", Vector{1, 2}, Vector{3, -6}, 1, Vector{3, -6}},
		{"half", Vector{-1, 10}, Vector{1, 20}, 0.5, Vector{0, 15}},
	}
	for _, tt := range tests {
		if err := EMA(tt.dst, tt.src, tt.m); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if !tt.dst.Equal(tt.want) {
			t.Errorf("%s: EMA = %v, want %v", tt.name, tt.dst, tt.want)
		}
	}
}

func TestEMARejectsBadInputsLeavingDst(t *testing.T) {
	dst := Vector{1, 2}
	if err := EMA(dst, Vector{1}, 0.1); !errors.Is(err, ErrLength) {
		t.Errorf("length mismatch: %v", err)
	}
	for _, m := range []float32{-0.1, 1.5} {
		if err := EMA(dst, Vector{5, 5}, m); !errors.Is(err, ErrConfig) {
			t.Errorf("momentum %v: %v", m, err)
		}
	}
	if !dst.Equal(Vector{1, 2}) {
		t.Errorf("failed EMA changed dst: %v", dst)
	}
}
