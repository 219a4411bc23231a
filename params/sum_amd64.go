package params

// addScaledSSE2 adds w·v[i] to acc[i] for i < n, n a multiple of 8; both
// must hold n values (sum_amd64.s).
//
//go:noescape
func addScaledSSE2(acc *float64, v *float32, n int, w float64)

// addScaled adds w·float64(v[i]) to acc[i] for every i < len(v), in
// float64 without FMA: the same bits as addScaledGo, eight values at a time.
func addScaled(acc []float64, v Vector, w float64) {
	acc = acc[:len(v)]
	n := len(v) &^ 7
	if n > 0 {
		addScaledSSE2(&acc[0], &v[0], n, w)
	}
	addScaledGo(acc[n:], v[n:], w)
}
