//go:build !cgo || purego

package model

// useBLAS keeps Gorgonia's default, gonum's pure-Go BLAS.
func useBLAS() {}

// BLASName names the BLAS this process computes with.
func BLASName() string { return "gonum" }

// SetThreads does nothing in a pure-Go build: gonum's BLAS parallelises
// over GOMAXPROCS and its results do not depend on the thread count.
func SetThreads(n int) {}

// BLASCore is "gonum" in a pure-Go build.
func BLASCore() string { return "gonum" }
