package eval

import "math"

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
