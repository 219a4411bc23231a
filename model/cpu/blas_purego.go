//go:build !cgo || purego

package cpu

// UseBLAS keeps Gorgonia's default, gonum's pure-Go BLAS.
func UseBLAS() {}

// BLASName names the BLAS this process computes with.
func BLASName() string { return "gonum" }

// BLASCore is "gonum" in a pure-Go build.
func BLASCore() string { return "gonum" }
