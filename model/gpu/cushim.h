// cushim.h: static wrappers of the CUDA driver calls package gpu makes,
// included by the cgo preamble of its cuda-tagged files.
#ifndef FSL_CUSHIM_H
#define FSL_CUSHIM_H
#include <cuda.h>
#include <stdint.h>
#include <stdlib.h>

// Wrappers: cuda.h maps several names to _v2 symbols by macro, which cgo
// cannot call directly.
static CUresult fsl_init(void) { return cuInit(0); }
static CUresult fsl_driver_version(int *v) { return cuDriverGetVersion(v); }
static CUresult fsl_device_count(int *n) { return cuDeviceGetCount(n); }
static CUresult fsl_device_get(CUdevice *d, int i) { return cuDeviceGet(d, i); }
static CUresult fsl_device_name(char *buf, int n, CUdevice d) { return cuDeviceGetName(buf, n, d); }
static CUresult fsl_device_mem(size_t *b, CUdevice d) { return cuDeviceTotalMem(b, d); }
static CUresult fsl_device_attr(int *v, int attr, CUdevice d) { return cuDeviceGetAttribute(v, (CUdevice_attribute)attr, d); }
static CUresult fsl_ctx_retain(CUcontext *c, CUdevice d) { return cuDevicePrimaryCtxRetain(c, d); }
static CUresult fsl_ctx_release(CUdevice d) { return cuDevicePrimaryCtxRelease(d); }
static CUresult fsl_ctx_set(CUcontext c) { return cuCtxSetCurrent(c); }
static CUresult fsl_ctx_sync(void) { return cuCtxSynchronize(); }
static CUresult fsl_module_load(CUmodule *m, const char *image) { return cuModuleLoadData(m, image); }
static CUresult fsl_module_unload(CUmodule m) { return cuModuleUnload(m); }
static CUresult fsl_module_function(CUfunction *f, CUmodule m, const char *name) { return cuModuleGetFunction(f, m, name); }
static CUresult fsl_alloc(CUdeviceptr *p, size_t n) { return cuMemAlloc(p, n); }
static CUresult fsl_free(CUdeviceptr p) { return cuMemFree(p); }
static CUresult fsl_htod(CUdeviceptr dst, const void *src, size_t n) { return cuMemcpyHtoD(dst, src, n); }
static CUresult fsl_dtoh(void *dst, CUdeviceptr src, size_t n) { return cuMemcpyDtoH(dst, src, n); }
static CUresult fsl_memset(CUdeviceptr dst, size_t n) { return cuMemsetD8(dst, 0, n); }

// fsl_launch launches f with its n parameters packed one per 8-byte slot
// of args (a 4-byte parameter in the slot's low bytes, little endian).
static CUresult fsl_launch(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, uint64_t *args, int n) {
	void *ptrs[32];
	if (n > 32) return CUDA_ERROR_INVALID_VALUE;
	for (int i = 0; i < n; i++) ptrs[i] = (void *)(args + i);
	return cuLaunchKernel(f, gx, gy, gz, bx, 1, 1, 0, 0, ptrs, 0);
}

static const char *fsl_error_name(CUresult r) {
	const char *s = 0;
	if (cuGetErrorName(r, &s) != CUDA_SUCCESS || !s) return "CUDA_ERROR_UNKNOWN_CODE";
	return s;
}
static const char *fsl_error_string(CUresult r) {
	const char *s = 0;
	if (cuGetErrorString(r, &s) != CUDA_SUCCESS || !s) return "unknown error";
	return s;
}
#endif
