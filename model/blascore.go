package model

import (
	"strings"

	"golang.org/x/sys/cpu"
)

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
	case cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL:
		return "SkylakeX"
	case cpu.X86.HasAVX2 && cpu.X86.HasFMA:
		return "Haswell"
	}
	return ""
}
