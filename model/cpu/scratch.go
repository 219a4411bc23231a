package cpu

import "sync"

// Scratch buffers for the convolution's patch matrices, pooled by exact
// length: a training step needs a few large ones per layer (27 MB for
// block 2 at 28×28, batch 60), and allocating them per call cost more in
// zeroing than the matrix products they feed. Contents are not zeroed;
// every user overwrites the whole buffer. The pools are process-wide on
// purpose: a buffer holds no state between uses, so sharing them between
// Kernels (and models) changes no result, only saves memory.
var scratchPools sync.Map // key{elemBytes, n} → *sync.Pool

type scratchKey struct{ size, n int }

func scratchPool[T Float](n int) *sync.Pool {
	var zero T
	size := 4
	if _, ok := any(zero).(float64); ok {
		size = 8
	}
	k := scratchKey{size, n}
	if p, ok := scratchPools.Load(k); ok {
		return p.(*sync.Pool)
	}
	p, _ := scratchPools.LoadOrStore(k, &sync.Pool{New: func() any { s := make([]T, n); return &s }})
	return p.(*sync.Pool)
}

// getScratch returns a buffer of n values with undefined contents; give it
// back with putScratch.
func getScratch[T Float](n int) *[]T {
	return scratchPool[T](n).Get().(*[]T)
}

func putScratch[T Float](s *[]T) { scratchPool[T](len(*s)).Put(s) }
