package cpu

import (
	"sync"

	"github.com/fsl-project/fsl/model/cpu/internal/simd"
)

// Float is the element type of every kernel: float32 in training and
// evaluation, float64 in the gradient checks.
type Float interface{ ~float32 | ~float64 }

// BNEps is added to a batch-norm variance before the inverse square root.
const BNEps = 1e-5

// Kernels is one configuration of the CPU kernels: how many goroutines a
// kernel call computes on, and which kernel set it uses. Every kernel
// function of this package takes one. Its values never change after New,
// so any number of goroutines may share one, and two Kernels with
// different thread counts coexist in a process.
//
// The work of a call is cut into the same pieces whatever the thread count,
// each piece is computed by one goroutine with single-threaded BLAS, and
// pieces are combined in a fixed order: the bits do not depend on Threads.
type Kernels struct {
	threads int

	// The kernel set. New sets the production values; tests of this package
	// change them to compare paths (the same bits, or rounding only).
	useWinograd     bool // Winograd F(2×2, 3×3) where it pays (winograd.go)
	winogradMinSide int  // the smallest side that takes Winograd
	winoChunkValues int  // the V values one Winograd chunk aims at
	simd            bool // AVX2 kernels where the CPU has them (simd.go)
	simd512         bool // AVX-512 kernels where the CPU has them
}

// New returns kernels that compute on up to threads goroutines (threads < 1
// is taken as 1), with the assembly kernels this CPU supports.
func New(threads int) *Kernels {
	return &Kernels{
		threads:         max(threads, 1),
		useWinograd:     true,
		winogradMinSide: winogradMinSide,
		winoChunkValues: winoChunkValues,
		simd:            simd.Available,
		simd512:         simd.Available512,
	}
}

// Threads is the most goroutines one kernel call computes on.
func (k *Kernels) Threads() int { return k.threads }

// parallelFor calls f(i) for every i in [0, n), spread over up to
// k.threads goroutines in contiguous ranges; worker w (0-based) is passed
// to f so it can use scratch of its own. It returns when all calls have.
func (k *Kernels) parallelFor(n int, f func(worker, i int)) {
	t := min(k.threads, n)
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

// Set names the kernel set k computes with — the assembly it uses
// ("avx512", "avx2" or "go") and whether 3×3 convolutions may take
// Winograd — which, with the BLAS library and its kernels (BLASName,
// BLASCore), decides a computation's bits.
func (k *Kernels) Set() string {
	set := "go"
	switch {
	case k.simd && k.simd512:
		set = "avx512"
	case k.simd:
		set = "avx2"
	}
	if k.useWinograd {
		set += "+winograd"
	}
	return set
}
