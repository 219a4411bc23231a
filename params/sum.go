package params

// addScaledGo adds w·float64(v[i]) to acc[i] for every i < len(v): the
// definition of addScaled, which the amd64 build computes eight values at
// a time with the same bits.
func addScaledGo(acc []float64, v Vector, w float64) {
	acc = acc[:len(v)]
	for i, x := range v {
		// float64(...) forbids fusing into an FMA: same bits everywhere.
		acc[i] += float64(w * float64(x))
	}
}
