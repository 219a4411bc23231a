package gpu

import "errors"

// Sentinel errors of the CUDA backend; every error of this package wraps
// one of them, with context naming the device, call or buffer at fault.
var (
	// ErrNoDevice: the CUDA driver cannot be initialised (no NVIDIA
	// driver, no device visible to this process) or the device index is
	// out of range.
	ErrNoDevice = errors.New("no CUDA device")
	// ErrDriverTooOld: the driver's CUDA version is older than the one the
	// embedded kernels (PTX) were compiled for.
	ErrDriverTooOld = errors.New("CUDA driver too old")
	// ErrDeviceUnsupported: the device's compute capability is below what
	// the kernels target (8.0).
	ErrDeviceUnsupported = errors.New("CUDA device not supported")
	// ErrCUDA: a CUDA driver call failed (out of memory, a kernel fault,
	// ...), or a Net was given inputs that do not fit its shape.
	ErrCUDA = errors.New("CUDA call failed")
)
