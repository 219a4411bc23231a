package model

import (
	"sync"
	"sync/atomic"
)

// computeThreads is how many goroutines one Grad or Embed call splits its
// work over (SetThreads). Work is always cut into the same pieces, each
// computed by one goroutine with single-threaded BLAS and combined in a
// fixed order, so results do not depend on it.
var computeThreads atomic.Int32

func init() { computeThreads.Store(1) }

// SetThreads sets how many goroutines one Grad or Embed call computes
// on (n ≥ 1; smaller n is taken as 1), for the whole process. The work is
// cut into the same pieces whatever n is, each piece runs single-threaded
// BLAS, and pieces are combined in a fixed order, so results are bitwise
// the same for every n.
func SetThreads(n int) {
	computeThreads.Store(int32(max(n, 1)))
}

// parallelFor calls f(i) for every i in [0, n), spread over up to
// computeThreads goroutines in contiguous ranges; worker w (0-based) is
// passed to f so it can use scratch of its own. It returns when all calls
// have.
func parallelFor(n int, f func(worker, i int)) {
	t := min(int(computeThreads.Load()), n)
	if t <= 1 {
		for i := 0; i < n; i++ {
			f(0, i)
		}
		return
	}
	var wg sync.WaitGroup
	for w := 0; w < t; w++ {
		lo, hi := w*n/t, (w+1)*n/t
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				f(w, i)
			}
		}()
	}
	wg.Wait()
}
