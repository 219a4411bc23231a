//go:build !fslcuda

package model

// DeviceInfo describes the GPU Device selected: "" in this build, which
// has no CUDA support and always computes on the CPU.
func DeviceInfo() string { return "" }
