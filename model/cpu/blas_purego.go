//go:build !cgo || purego

package cpu

// UseBLAS keeps gonum's pure-Go BLAS and returns it.
func UseBLAS() BLAS { return impl }

// BLASName names the BLAS this process computes with.
func BLASName() string { return "gonum" }

// BLASCore is "gonum" in a pure-Go build.
func BLASCore() string { return "gonum" }
