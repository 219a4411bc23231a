package model

import (
	"github.com/fsl-project/fsl/params"
)

// backend is where a Model computes its training steps: the CPU (the
// Gorgonia graphs over model/cpu's kernels, this file) or a CUDA device
// (device_cuda.go, fslcuda builds). New picks one from the options; Grad
// calls it after checking the vectors, so both implement Grad's contract
// with the same Result fields and errors.
type backend interface {
	// grad computes one batch's Result (Grads, Stats, Loss, Count); p and
	// state already fit the layouts and are finite.
	grad(p params.Vector, b *params.Batch) (params.Result, error)
	// info describes the device: "" for the CPU.
	info() string
}

// cpuBackend computes on the CPU through the model's graphs, on the
// model's kernels (and so its thread count).
type cpuBackend struct{ m *Model }

func (c cpuBackend) grad(p params.Vector, b *params.Batch) (params.Result, error) {
	grads, stats, loss, key, err := gradOf(c.m, p, b)
	if err != nil {
		return params.Result{}, err
	}
	return params.Result{Grads: grads, Stats: stats, Loss: loss, Count: c.m.count(key)}, nil
}

func (cpuBackend) info() string { return "" }
