// Package simd holds the AVX2 assembly kernels of package model/cpu's fused
// batch-norm, ReLU and pooling ops (Go assembly cannot live in model/cpu,
// which uses cgo). Each function computes, bit for bit, what its Go twin
// in model/cpu computes; callers check Available first. It imports
// nothing of fsl.
package simd
