package eval

import (
	"errors"
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

func TestTInterval95MatchesHandComputedCases(t *testing.T) {
	tests := []struct {
		name       string
		xs         []float64
		mean, half float64
	}{
		// mean 0.96; s = 0.01; t(0.975, 2) = 4.302653; half = 4.302653 * 0.01 / sqrt(3) = 0.0248414.
		{"three seeds", []float64{0.95, 0.96, 0.97}, 0.96, 0.0248414},
		// mean 0.94; deviations ±0.04, ±0.02, 0 → ss = 0.004, s = sqrt(0.004/4) = 0.0316228;
		// t(0.975, 4) = 2.776445; half = 2.776445 * 0.0316228 / sqrt(5) = 0.0392649.
		{"five seeds", []float64{0.98, 0.90, 0.94, 0.96, 0.92}, 0.94, 0.0392649},
		{"identical values have a zero-width interval", []float64{0.5, 0.5}, 0.5, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mean, half, err := TInterval95(tc.xs)
			if err != nil || math.Abs(mean-tc.mean) > 1e-12 || math.Abs(half-tc.half) > 1e-6 {
				t.Fatalf("TInterval95(%v) = %v, %v, %v; want %v, %v, nil", tc.xs, mean, half, err, tc.mean, tc.half)
			}
		})
	}
}

func TestTInterval95OfTooFewValues(t *testing.T) {
	if _, _, err := TInterval95(nil); !errors.Is(err, ErrTooFewSamples) {
		t.Fatalf("TInterval95(nil) error = %v, want ErrTooFewSamples", err)
	}
	mean, half, err := TInterval95([]float64{0.7})
	if err != nil || mean != 0.7 || !math.IsNaN(half) {
		t.Fatalf("TInterval95([0.7]) = %v, %v, %v; want 0.7, NaN (no interval), nil", mean, half, err)
	}
}

func TestTQuantileMatchesTables(t *testing.T) {
	// Reference quantiles from the regularized incomplete beta function
	// (mpmath, 30 digits), a method independent of tTwoSided's sums.
	tests := []struct {
		p    float64
		nu   int
		want float64
	}{
		{0.975, 1, 12.7062047362}, {0.975, 2, 4.30265272975}, {0.975, 3, 3.18244630528},
		{0.975, 4, 2.7764451052}, {0.975, 5, 2.57058183564}, {0.975, 6, 2.44691185114},
		{0.975, 7, 2.36462425159}, {0.975, 8, 2.3060041352}, {0.975, 9, 2.2621571628},
		{0.975, 10, 2.22813885199}, {0.975, 11, 2.20098516009}, {0.975, 12, 2.17881282967},
		{0.975, 13, 2.16036865646}, {0.975, 14, 2.14478668792}, {0.975, 15, 2.13144954556},
		{0.975, 16, 2.11990529922}, {0.975, 17, 2.10981557783}, {0.975, 18, 2.10092204024},
		{0.975, 19, 2.09302405441}, {0.975, 20, 2.08596344727}, {0.975, 21, 2.07961384473},
		{0.975, 22, 2.0738730679}, {0.975, 23, 2.06865761042}, {0.975, 24, 2.06389856163},
		{0.975, 25, 2.05953855275}, {0.975, 26, 2.05552943864}, {0.975, 27, 2.05183051648},
		{0.975, 28, 2.0484071418}, {0.975, 29, 2.04522964213}, {0.975, 30, 2.0422724563},
		{0.975, 40, 2.02107539031}, {0.975, 60, 2.00029782201}, {0.975, 120, 1.97993040508},
		{0.975, 1000, 1.96233908083}, {0.975, 1001, 1.96233670528}, {0.975, 5000, 1.96043855171},
		{0.975, 100000, 1.95998770753},
		{0.995, 1, 63.6567411629}, {0.995, 2, 9.92484320092}, {0.995, 5, 4.03214298356}, {0.995, 10, 3.16927267262},
		{0.025, 4, -2.7764451052}, {0.5, 7, 0},
	}
	for _, tc := range tests {
		if got := tQuantile(tc.p, tc.nu); math.Abs(got-tc.want) > 1e-8*math.Max(1, math.Abs(tc.want)) {
			t.Errorf("tQuantile(%v, %d) = %.10f, want %.10f", tc.p, tc.nu, got, tc.want)
		}
	}
}
