package eval

import (
	"errors"
	"fmt"
	"math"
)

// Summary is the mean accuracy over episodes with its 95% confidence
// interval half-width: 1.96 * std / sqrt(episodes), std being the sample
// standard deviation (n-1) of the per-episode accuracies.
type Summary struct {
	Episodes int     `json:"episodes"`
	Mean     float64 `json:"mean"`
	CI95     float64 `json:"ci95"`
}

// Summarize returns the mean and 95% CI of per-episode accuracies. One
// episode has a zero-width interval; none gives the zero Summary.
func Summarize(acc []float64) Summary {
	n := len(acc)
	if n == 0 {
		return Summary{}
	}
	var sum float64
	for _, a := range acc {
		sum += a
	}
	mean := sum / float64(n)
	if n == 1 {
		return Summary{Episodes: 1, Mean: mean}
	}
	var ss float64
	for _, a := range acc {
		d := a - mean
		ss += d * d
	}
	std := math.Sqrt(ss / float64(n-1))
	return Summary{Episodes: n, Mean: mean, CI95: 1.96 * std / math.Sqrt(float64(n))}
}

// ErrTooFewSamples is TInterval95's error for an empty sample.
var ErrTooFewSamples = errors.New("too few samples")

// TInterval95 returns the mean of xs and the half-width of its 95%
// two-sided Student's t confidence interval, t(0.975, n-1) * s / sqrt(n),
// s being the sample standard deviation (n-1). It is for a few runs of one
// configuration (seeds), where Summarize's normal 1.96 would be too narrow:
// t(0.975, 2) is 4.30.
//
// An empty xs is an error wrapping ErrTooFewSamples. One value has a mean
// but no interval: half is NaN and err nil, and a table shows "n/a". A
// non-finite value makes mean and half NaN or infinite, not an error.
func TInterval95(xs []float64) (mean, half float64, err error) {
	n := len(xs)
	if n == 0 {
		return 0, 0, fmt.Errorf("t interval of 0 values, want at least 1: %w", ErrTooFewSamples)
	}
	var sum float64
	for _, x := range xs {
		sum += x
	}
	mean = sum / float64(n)
	if n == 1 {
		return mean, math.NaN(), nil
	}
	var ss float64
	for _, x := range xs {
		d := x - mean
		ss += d * d
	}
	s := math.Sqrt(ss / float64(n-1))
	return mean, tQuantile(0.975, n-1) * s / math.Sqrt(float64(n)), nil
}

// tQuantile is the p-quantile of Student's t distribution with nu >= 1
// degrees of freedom, for 0 < p < 1. It inverts tTwoSided by bisection;
// the cost grows as nu (tTwoSided sums up to nu/2 terms).
func tQuantile(p float64, nu int) float64 {
	switch {
	case p == 0.5:
		return 0
	case p < 0.5:
		return -tQuantile(1-p, nu)
	}
	a := 2*p - 1 // P(|T| < t) at the quantile
	lo, hi := 0.0, 1.0
	for tTwoSided(hi, nu) < a && !math.IsInf(hi, 1) {
		lo, hi = hi, 2*hi
	}
	for range 200 {
		mid := lo + (hi-lo)/2
		if mid <= lo || mid >= hi {
			break // adjacent floats: as close as float64 gets
		}
		if tTwoSided(mid, nu) < a {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo + (hi-lo)/2
}

// tTwoSided is P(|T| < t) for t >= 0 and Student's t with nu >= 1 degrees
// of freedom, by the finite sums for integer nu (Abramowitz and Stegun
// 26.7.3 and 26.7.4) in theta = atan(t / sqrt(nu)): exact up to rounding,
// with no special functions.
func tTwoSided(t float64, nu int) float64 {
	if math.IsInf(t, 1) {
		return 1
	}
	theta := math.Atan(t / math.Sqrt(float64(nu)))
	sin, cos := math.Sincos(theta)
	c2 := cos * cos
	if nu%2 == 0 {
		// sin θ (1 + 1/2 cos²θ + 1·3/(2·4) cos⁴θ + … + 1·3…(ν-3)/(2·4…(ν-2)) cos^(ν-2)θ)
		sum, term := 1.0, 1.0
		for k := 1; k <= (nu-2)/2; k++ {
			term *= float64(2*k-1) / float64(2*k) * c2
			sum += term
		}
		return sin * sum
	}
	// 2/π (θ + sin θ cos θ (1 + 2/3 cos²θ + … + 2·4…(ν-3)/(3·5…(ν-2)) cos^(ν-3)θ)); ν = 1 is 2θ/π
	if nu == 1 {
		return 2 / math.Pi * theta
	}
	sum, term := 1.0, 1.0
	for k := 1; k <= (nu-3)/2; k++ {
		term *= float64(2*k) / float64(2*k+1) * c2
		sum += term
	}
	return 2 / math.Pi * (theta + sin*cos*sum)
}
