//go:build !cuda

package model

import "fmt"

// Device selects where the model computes: gpu = -1 is the CPU. This
// binary was built without the cuda tag, so any gpu ≥ 0 is an error
// wrapping ErrNoCUDA.
func Device(gpu int) error {
	switch {
	case gpu == -1:
		return nil
	case gpu < -1:
		return fmt.Errorf("device: gpu %d, want -1 (CPU) or a GPU index ≥ 0", gpu)
	}
	return fmt.Errorf("device: gpu %d requested, but this binary was built without CUDA; build one with `go build -tags cuda ./cmd/fsl-worker` on a machine with the CUDA toolkit (see README), or use --gpu -1: %w", gpu, ErrNoCUDA)
}
