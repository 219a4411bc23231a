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
	return fmt.Errorf("device: gpu %d requested, but this binary was built without CUDA, and the CUDA backend (go build -tags cuda) is not written yet (README, \"GPU workers\"); use --gpu -1 to compute on the CPU: %w", gpu, ErrNoCUDA)
}
