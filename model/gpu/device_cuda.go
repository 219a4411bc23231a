//go:build fslcuda

package gpu

/*
#include "cushim.h"
*/
import "C"

import (
	_ "embed"
	"fmt"
	"sync"
	"unsafe"
)

// ptx is the kernels' PTX, built from kernels.cu by scripts/cuda/build.sh.
//
//go:embed kernels.ptx
var ptx string

// minMajor is the compute capability the PTX targets (-arch=compute_80).
const minMajor = 8

// Info describes an opened device.
type Info struct {
	Index        int
	Name         string
	TotalMemory  int64 // bytes
	Major, Minor int   // compute capability
	Driver       int   // CUDA version the driver supports, 1000·major + 10·minor (13000 = 13.0)
}

// String is one line: "NVIDIA H200 (cuda:0), 139.8 GiB, compute 9.0, driver CUDA 13.0".
func (i Info) String() string {
	return fmt.Sprintf("%s (cuda:%d), %.1f GiB, compute %d.%d, driver CUDA %s",
		i.Name, i.Index, float64(i.TotalMemory)/(1<<30), i.Major, i.Minor, cudaVersion(i.Driver))
}

// Device is one CUDA device with its primary context and the kernels
// module loaded. Safe for concurrent use: Nets of one Device serialise
// their steps on the device.
type Device struct {
	info Info
	dev  C.CUdevice
	ctx  C.CUcontext
	mod  C.CUmodule
	fns  map[string]C.CUfunction

	mu     sync.Mutex // one step on the device at a time
	closed bool
}

// Open initialises the driver, checks that device index exists, that the
// driver supports the PTX's CUDA version and the device its target, and
// loads the kernels. Errors wrap ErrNoDevice, ErrDriverTooOld,
// ErrDeviceUnsupported or ErrCUDA and say what to do.
func Open(index int) (*Device, error) {
	if err := initDriver(); err != nil {
		return nil, err
	}
	var n C.int
	if err := cuErr("cuDeviceGetCount", C.fsl_device_count(&n), ErrNoDevice); err != nil {
		return nil, err
	}
	if index < 0 || index >= int(n) {
		return nil, fmt.Errorf("CUDA device %d: this process sees %d CUDA device(s) (indices 0..%d; CUDA_VISIBLE_DEVICES may hide some): %w",
			index, int(n), int(n)-1, ErrNoDevice)
	}
	d := &Device{info: Info{Index: index}, fns: map[string]C.CUfunction{}}
	if err := cuErr("cuDeviceGet", C.fsl_device_get(&d.dev, C.int(index)), ErrNoDevice); err != nil {
		return nil, err
	}
	var name [256]C.char
	if err := cuErr("cuDeviceGetName", C.fsl_device_name(&name[0], C.int(len(name)), d.dev), nil); err != nil {
		return nil, err
	}
	d.info.Name = C.GoString(&name[0])
	var mem C.size_t
	if err := cuErr("cuDeviceTotalMem", C.fsl_device_mem(&mem, d.dev), nil); err != nil {
		return nil, err
	}
	d.info.TotalMemory = int64(mem)
	var major, minor, drv C.int
	if err := cuErr("cuDeviceGetAttribute", C.fsl_device_attr(&major, C.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, d.dev), nil); err != nil {
		return nil, err
	}
	if err := cuErr("cuDeviceGetAttribute", C.fsl_device_attr(&minor, C.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, d.dev), nil); err != nil {
		return nil, err
	}
	d.info.Major, d.info.Minor = int(major), int(minor)
	if err := cuErr("cuDriverGetVersion", C.fsl_driver_version(&drv), nil); err != nil {
		return nil, err
	}
	d.info.Driver = int(drv)

	if need, isa := ptxNeeds(ptx); need > d.info.Driver {
		return nil, fmt.Errorf("CUDA device %d (%s): the driver supports CUDA %s, but the kernels (PTX ISA %s) need CUDA %s or newer; update the NVIDIA driver: %w",
			index, d.info.Name, cudaVersion(d.info.Driver), isa, cudaVersion(need), ErrDriverTooOld)
	}
	if d.info.Major < minMajor {
		return nil, fmt.Errorf("CUDA device %d (%s): compute capability %d.%d, the kernels need %d.0 or newer: %w",
			index, d.info.Name, d.info.Major, d.info.Minor, minMajor, ErrDeviceUnsupported)
	}
	if err := cuErr("cuDevicePrimaryCtxRetain", C.fsl_ctx_retain(&d.ctx, d.dev), nil); err != nil {
		return nil, fmt.Errorf("CUDA device %d (%s): %w", index, d.info.Name, err)
	}
	err := d.withContext(func() error {
		img := C.CString(ptx)
		defer C.free(unsafe.Pointer(img))
		if err := cuErr("cuModuleLoadData (JIT of kernels.ptx)", C.fsl_module_load(&d.mod, img), nil); err != nil {
			return err
		}
		for _, k := range kernelNames {
			cname := C.CString(k)
			var f C.CUfunction
			r := C.fsl_module_function(&f, d.mod, cname)
			C.free(unsafe.Pointer(cname))
			if err := cuErr("cuModuleGetFunction "+k, r, nil); err != nil {
				return err
			}
			d.fns[k] = f
		}
		return nil
	})
	if err != nil {
		C.fsl_ctx_release(d.dev)
		return nil, fmt.Errorf("CUDA device %d (%s): %w", index, d.info.Name, err)
	}
	return d, nil
}

// Info describes the device.
func (d *Device) Info() Info { return d.info }

// Close unloads the kernels and releases the context. Nets of d must be
// closed first; using d after Close is an error.
func (d *Device) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	err := d.withContext(func() error { return cuErr("cuModuleUnload", C.fsl_module_unload(d.mod), nil) })
	if e := cuErr("cuDevicePrimaryCtxRelease", C.fsl_ctx_release(d.dev), nil); err == nil {
		err = e
	}
	return err
}
