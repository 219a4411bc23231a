package model

// outBuf is the backing array of one op's output in one compiled graph:
// allocated on the graph's first run and reused by every later run, so a
// training step allocates no activation memory. Ops of a graph run one at
// a time (the graph's mutex), each writing its whole output, and Gorgonia
// copies what the graph reads out (G.Read into a bound value). A nil
// *outBuf allocates on every call.
type outBuf struct {
	f32 []float32
	f64 []float64
}

// bufFor returns n values of b's backing array of T (contents undefined),
// growing it if needed.
func bufFor[T float](b *outBuf, n int) []T {
	if b == nil {
		return make([]T, n)
	}
	var zero T
	if _, ok := any(zero).(float32); ok {
		if cap(b.f32) < n {
			b.f32 = make([]float32, n)
		}
		return any(b.f32[:n]).([]T)
	}
	if cap(b.f64) < n {
		b.f64 = make([]float64, n)
	}
	return any(b.f64[:n]).([]T)
}
