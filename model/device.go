//go:build !fslcuda

package model

import "fmt"

// Device selects where the model computes: gpu = -1 is the CPU. This
// binary was built without the fslcuda tag, so any gpu ≥ 0 is an error
// wrapping ErrNoCUDA that says how to build the CUDA worker.
func Device(gpu int) error {
	switch {
	case gpu == -1:
		return nil
	case gpu < -1:
		return fmt.Errorf("device: gpu %d, want -1 (CPU) or a GPU index ≥ 0", gpu)
	}
	return fmt.Errorf("device: gpu %d requested, but this binary was built without CUDA; build the CUDA worker with scripts/cuda/build.sh (go build -tags fslcuda; not -tags cuda, which selects Gorgonia's own cuDNN path) or use --gpu -1 to compute on the CPU (README, \"GPU workers\"): %w", gpu, ErrNoCUDA)
}
