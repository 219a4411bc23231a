//go:build !fslcuda

package model

import "fmt"

// gpuBackend would compute m's steps on CUDA device idx ≥ 0; this binary
// was built without the fslcuda tag, so it is an error wrapping ErrNoCUDA
// that says how to build the CUDA worker.
func gpuBackend(m *Model, idx int) (backend, error) {
	return nil, fmt.Errorf("device: gpu %d requested, but this binary was built without CUDA; build the CUDA worker with scripts/cuda/build.sh (go build -tags fslcuda; not -tags cuda, which selects Gorgonia's own cuDNN path) or use --gpu -1 to compute on the CPU (README, \"GPU workers\"): %w", idx, ErrNoCUDA)
}
