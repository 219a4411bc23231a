package cpu

import (
	"strings"

	xcpu "golang.org/x/sys/cpu"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// BLAS is a BLAS implementation: gonum's interfaces, the set Gorgonia's
// BLAS asks for too, so one implementation serves the kernels and
// Gorgonia's own ops.
type BLAS interface {
	blas.Float32
	blas.Float64
	blas.Complex64
	blas.Complex128
}

// impl is the BLAS this process computes with: gonum's until UseBLAS
// chooses OpenBLAS, once per process.
var impl BLAS = gonum.Implementation{}

// SuggestedBLASCore returns the OPENBLAS_CORETYPE value that fits this
// CPU when OpenBLAS is on its generic "Prescott" kernels: "SkylakeX" with AVX-512 (F, DQ, BW, VL), "Haswell"
// with AVX2 and FMA. It returns "" when OpenBLAS picked a specific core
// itself, when the build does not use OpenBLAS, or when the CPU has
// neither (forcing kernels the CPU lacks would crash the process).
func SuggestedBLASCore() string {
	if !strings.EqualFold(BLASCore(), "Prescott") {
		return ""
	}
	switch {
	case xcpu.X86.HasAVX512F && xcpu.X86.HasAVX512DQ && xcpu.X86.HasAVX512BW && xcpu.X86.HasAVX512VL:
		return "SkylakeX"
	case xcpu.X86.HasAVX2 && xcpu.X86.HasFMA:
		return "Haswell"
	}
	return ""
}
