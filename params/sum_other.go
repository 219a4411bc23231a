//go:build !amd64

package params

// addScaled adds w·float64(v[i]) to acc[i] for every i < len(v).
func addScaled(acc []float64, v Vector, w float64) { addScaledGo(acc, v, w) }
