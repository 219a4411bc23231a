//go:build fslcuda

package gpu

/*
#cgo LDFLAGS: -lcuda
#include "cushim.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

// cuErr turns a CUresult into nil or an error naming the call, wrapping
// ErrCUDA, or sentinel when it is not nil.
func cuErr(call string, r C.CUresult, sentinel error) error {
	if r == C.CUDA_SUCCESS {
		return nil
	}
	if sentinel == nil {
		sentinel = ErrCUDA
	}
	return fmt.Errorf("%s: %s (%d, %s): %w", call, C.GoString(C.fsl_error_name(r)), int(r),
		C.GoString(C.fsl_error_string(r)), sentinel)
}

var (
	initOnce sync.Once
	initErr  error
)

// initDriver runs cuInit once per process.
func initDriver() error {
	initOnce.Do(func() {
		if err := cuErr("cuInit", C.fsl_init(), ErrNoDevice); err != nil {
			initErr = fmt.Errorf("CUDA driver: %w (is the NVIDIA driver installed and a GPU visible to this process? nvidia-smi should list it)", err)
		}
	})
	return initErr
}

// devptr is a device address.
type devptr = C.CUdeviceptr

// arg is one kernel parameter packed into an 8-byte slot.
type arg uint64

func ptr(p devptr) arg { return arg(p) }
func i32(v int) arg    { return arg(uint32(int32(v))) }
func i64(v int) arg    { return arg(uint64(int64(v))) }

// withContext runs f on a locked OS thread with d's context current: the
// driver API keeps the current context per thread.
func (d *Device) withContext(f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cuErr("cuCtxSetCurrent", C.fsl_ctx_set(d.ctx), nil); err != nil {
		return err
	}
	return f()
}

// alloc allocates n bytes of device memory (context current).
func alloc(what string, n int) (devptr, error) {
	var p C.CUdeviceptr
	if n <= 0 {
		n = 4
	}
	if err := cuErr(fmt.Sprintf("cuMemAlloc %s (%d bytes)", what, n), C.fsl_alloc(&p, C.size_t(n)), nil); err != nil {
		return 0, err
	}
	return p, nil
}

// htod copies the values of src to dst (context current).
func htod[T any](what string, dst devptr, src []T) error {
	if len(src) == 0 {
		return nil
	}
	n := len(src) * int(unsafe.Sizeof(src[0]))
	return cuErr("cuMemcpyHtoD "+what, C.fsl_htod(dst, unsafe.Pointer(&src[0]), C.size_t(n)), nil)
}

// dtoh copies len(dst) values from src (context current); it waits for
// the kernels before it, so it also reports their failures.
func dtoh[T any](what string, dst []T, src devptr) error {
	if len(dst) == 0 {
		return nil
	}
	n := len(dst) * int(unsafe.Sizeof(dst[0]))
	return cuErr("cuMemcpyDtoH "+what, C.fsl_dtoh(unsafe.Pointer(&dst[0]), src, C.size_t(n)), nil)
}

// launch runs kernel fn on a grid of (gx, gy, gz) blocks of bx threads.
func (d *Device) launch(fn string, gx, gy, gz, bx int, args ...arg) error {
	f, ok := d.fns[fn]
	if !ok {
		return fmt.Errorf("kernel %s: not in the module: %w", fn, ErrCUDA)
	}
	var slots [32]C.uint64_t
	if len(args) > len(slots) {
		return fmt.Errorf("kernel %s: %d parameters, at most %d: %w", fn, len(args), len(slots), ErrCUDA)
	}
	for i, a := range args {
		slots[i] = C.uint64_t(a)
	}
	r := C.fsl_launch(f, C.uint(gx), C.uint(gy), C.uint(gz), C.uint(bx), &slots[0], C.int(len(args)))
	return cuErr(fmt.Sprintf("launch %s (grid %d×%d×%d, block %d)", fn, gx, gy, gz, bx), r, nil)
}

// sync waits for every kernel launched so far and reports their failure.
func synchronize() error { return cuErr("cuCtxSynchronize", C.fsl_ctx_sync(), nil) }
