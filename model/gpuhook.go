package model

import "github.com/fsl-project/fsl/params"

// gpuGrad is the CUDA step: set by the fslcuda build (grad_cuda.go), nil in
// the default build. Grad calls it for Float32 models after checking the
// parameter and state vectors; it returns ok false when Device has not
// selected a GPU (Grad then computes on the CPU), and otherwise the
// step's Result or error.
var gpuGrad func(m *Model, p params.Vector, b *params.Batch) (params.Result, bool, error)
