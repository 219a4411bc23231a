package model

import "errors"

// Sentinel errors; every error returned by this package wraps one of them,
// with context naming the field, tensor or image at fault.
var (
	// ErrConfig: a Config field is out of range.
	ErrConfig = errors.New("invalid model config")
	// ErrParams: a parameter or state vector does not match the layout
	// (length), or holds NaN or Inf.
	ErrParams = errors.New("parameters do not match the model")
	// ErrBatch: a batch is inconsistent with its Kind or the model (odd
	// number of images for pairs, wrong image size, bad labels, ...).
	ErrBatch = errors.New("invalid batch")
	// ErrCompute: Gorgonia failed while building or running a graph. This
	// is a bug in model, not in the caller's input.
	ErrCompute = errors.New("model computation failed")
	// ErrNoCUDA: a GPU was requested from a binary built without CUDA.
	ErrNoCUDA = errors.New("no CUDA support in this binary")
)
