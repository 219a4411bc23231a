package eval

import (
	"math"
	"testing"
)

func TestSummarizeMatchesHandComputedCase(t *testing.T) {
	tests := []struct {
		name      string
		acc       []float64
		mean, ci  float64
		wantCount int
	}{
		{"empty", nil, 0, 0, 0},
		{"one episode has no interval", []float64{0.8}, 0.8, 0, 1},
		// mean 0.75; deviations ±0.25 → ss = 4*0.0625 = 0.25; std = sqrt(0.25/3) = 0.288675;
		// ci = 1.96 * 0.288675 / 2 = 0.282902.
		{"four episodes", []float64{1, 0.5, 1, 0.5}, 0.75, 0.2829016, 4},
		{"identical episodes", []float64{0.6, 0.6, 0.6}, 0.6, 0, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := Summarize(tc.acc)
			if s.Episodes != tc.wantCount || math.Abs(s.Mean-tc.mean) > 1e-12 || math.Abs(s.CI95-tc.ci) > 1e-6 {
				t.Fatalf("Summarize(%v) = %+v, want mean %v ci %v n %d", tc.acc, s, tc.mean, tc.ci, tc.wantCount)
			}
		})
	}
}
