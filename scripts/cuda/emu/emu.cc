// CPU emulation of the CUDA driver API and of kernels.cu's execution model,
// for scripts/cuda/emulate.sh: model/gpu/kernels.cu is compiled as C++ into
// this stand-in libcuda.so. Blocks run one after another; threads of a
// block run as ucontext fibers switched at __syncthreads (kernels that use
// it), else in a plain loop. Allocations are padded with NaN canaries
// checked on every copy to the host and on free. It checks the Go driver
// code and the kernels' arithmetic without a GPU; not the PTX, the JIT or
// real launch limits beyond the grid and block sizes checked below.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <ucontext.h>
#include "cuda.h"

struct dim3 { unsigned x = 0, y = 0, z = 0; };
static dim3 threadIdx, blockIdx, blockDim, gridDim;
static void emu_sync();
#define __global__
#define __device__ static
#define __shared__ static
#define __launch_bounds__(x)
#define __syncthreads() emu_sync()
static inline int min(int a, int b) { return a < b ? a : b; }
static inline long long min(long long a, long long b) { return a < b ? a : b; }
static inline float __fadd_rn(float a, float b) { volatile float r = a + b; return r; }
static inline float __fmul_rn(float a, float b) { volatile float r = a * b; return r; }
using std::sqrt;
#include KERNELS

// bounds checking of accesses is not emulated; allocations are padded with NaN canaries instead
static std::map<unsigned long long, size_t> allocs;
static const size_t pad = 4096;

static ucontext_t sched;
static const int maxThreads = 1024;
static ucontext_t fib[maxThreads];
static char *stacks[maxThreads];
static bool done[maxThreads];
static int cur;
static void (*curInvoke)(void **);
static void **curParams;
static bool inFiber;
static void emu_sync() {
	if (!inFiber) { fprintf(stderr, "emu: __syncthreads in a kernel not marked sync\n"); abort(); }
	swapcontext(&fib[cur], &sched);
}
static void fiberMain() { curInvoke(curParams); done[cur] = true; }

struct CUfunc_st { const char *name; bool sync; void (*invoke)(void **); };
template <typename... A, size_t... I> static void callImpl(void (*k)(A...), void **p, std::index_sequence<I...>) { k(*(A *)p[I]...); }
template <typename... A> static void callWith(void (*k)(A...), void **p) { callImpl(k, p, std::index_sequence_for<A...>{}); }
template <auto K> static void invoke(void **p) { callWith(K, p); }
#define K(name, sync) {#name, sync, invoke<name>}
static CUfunc_st fns[] = {
	K(pixels_to_float, false), K(im2col, false), K(col2im, false), K(sgemm, true), K(sum_parts, false),
	K(channel_partial, true), K(bn_mean, false), K(bn_var, false), K(bn_relu, false), K(maxpool, false),
	K(maxpool_back, false), K(bn_back_partial, true), K(bn_back_params, false), K(bn_back_dx, false),
};

extern "C" {
CUresult cuInit(unsigned) { return 0; }
CUresult cuDriverGetVersion(int *v) { *v = 13000; return 0; }
CUresult cuDeviceGetCount(int *n) { *n = 1; return 0; }
CUresult cuDeviceGet(CUdevice *d, int i) { *d = i; return i == 0 ? 0 : 101; }
CUresult cuDeviceGetName(char *b, int n, CUdevice) { snprintf(b, n, "CPU emulation"); return 0; }
CUresult cuDeviceTotalMem(size_t *b, CUdevice) { *b = (size_t)1 << 34; return 0; }
CUresult cuDeviceGetAttribute(int *v, CUdevice_attribute a, CUdevice) { *v = a == 75 ? 8 : 0; return 0; }
CUresult cuDevicePrimaryCtxRetain(CUcontext *c, CUdevice) { *c = (CUcontext)0x1; return 0; }
CUresult cuDevicePrimaryCtxRelease(CUdevice) { return 0; }
CUresult cuCtxSetCurrent(CUcontext) { return 0; }
CUresult cuCtxSynchronize(void) { return 0; }
CUresult cuModuleLoadData(CUmodule *m, const void *) { *m = (CUmodule)0x2; return 0; }
CUresult cuModuleUnload(CUmodule) { return 0; }
CUresult cuModuleGetFunction(CUfunction *f, CUmodule, const char *name) {
	for (auto &k : fns) if (!strcmp(k.name, name)) { *f = &k; return 0; }
	return CUDA_ERROR_NOT_FOUND;
}
CUresult cuMemAlloc(CUdeviceptr *p, size_t n) {
	char *b = (char *)malloc(n + 2 * pad);
	float nan = NAN;
	for (size_t i = 0; i + 4 <= n + 2 * pad; i += 4) memcpy(b + i, &nan, 4); // uninitialised reads show as NaN
	*p = (CUdeviceptr)(b + pad);
	allocs[*p] = n;
	return 0;
}
static void checkCanary(CUdeviceptr p) {
	size_t n = allocs[p];
	unsigned nanBits; float nan = NAN; memcpy(&nanBits, &nan, 4);
	char *b = (char *)p;
	for (size_t i = 0; i < pad; i += 4) {
		unsigned u1, u2; memcpy(&u1, b - pad + i, 4); memcpy(&u2, b + n + i, 4);
		if (u1 != nanBits || u2 != nanBits) { fprintf(stderr, "emu: write outside allocation %llx (%zu bytes)\n", p, n); abort(); }
	}
}
CUresult cuMemFree(CUdeviceptr p) { checkCanary(p); allocs.erase(p); free((char *)p - pad); return 0; }
static void checkRange(CUdeviceptr p, size_t n, const char *what) {
	auto it = allocs.upper_bound(p);
	if (it == allocs.begin()) { fprintf(stderr, "emu: %s of unknown pointer\n", what); abort(); }
	--it;
	if (p + n > it->first + it->second) { fprintf(stderr, "emu: %s of %zu bytes overflows allocation of %zu\n", what, n, it->second); abort(); }
}
CUresult cuMemcpyHtoD(CUdeviceptr d, const void *s, size_t n) { checkRange(d, n, "HtoD"); memcpy((void *)d, s, n); return 0; }
CUresult cuMemcpyDtoH(void *d, CUdeviceptr s, size_t n) {
	checkRange(s, n, "DtoH");
	for (auto &a : allocs) checkCanary(a.first);
	memcpy(d, (void *)s, n); return 0;
}
CUresult cuMemsetD8(CUdeviceptr d, unsigned char v, size_t n) { memset((void *)d, v, n); return 0; }
CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
	unsigned, CUstream, void **params, void **) {
	if (by != 1 || bz != 1 || bx > maxThreads || gy > 65535 || gz > 65535 || gx == 0 || gy == 0 || gz == 0) return CUDA_ERROR_INVALID_VALUE;
	gridDim = {gx, gy, gz};
	blockDim = {bx, 1, 1};
	curInvoke = f->invoke;
	curParams = params;
	for (unsigned z = 0; z < gz; z++)
		for (unsigned y = 0; y < gy; y++)
			for (unsigned x = 0; x < gx; x++) {
				blockIdx = {x, y, z};
				if (!f->sync) {
					for (unsigned t = 0; t < bx; t++) { threadIdx = {t, 0, 0}; f->invoke(params); }
					continue;
				}
				inFiber = true;
				for (unsigned t = 0; t < bx; t++) {
					if (!stacks[t]) stacks[t] = (char *)malloc(1 << 16);
					getcontext(&fib[t]);
					fib[t].uc_stack.ss_sp = stacks[t];
					fib[t].uc_stack.ss_size = 1 << 16;
					fib[t].uc_link = &sched;
					makecontext(&fib[t], fiberMain, 0);
					done[t] = false;
				}
				for (bool any = true; any;) {
					any = false;
					int ndone = 0;
					for (unsigned t = 0; t < bx; t++) {
						if (done[t]) { ndone++; continue; }
						cur = t; threadIdx = {t, 0, 0};
						swapcontext(&sched, &fib[t]);
						if (!done[t]) any = true; else ndone++;
					}
					if (any && ndone > 0) { fprintf(stderr, "emu: %s: __syncthreads reached by only some threads\n", f->name); abort(); }
				}
				inFiber = false;
			}
	return 0;
}
CUresult cuGetErrorName(CUresult r, const char **s) { *s = r ? "EMU_ERROR" : "CUDA_SUCCESS"; return 0; }
CUresult cuGetErrorString(CUresult r, const char **s) { *s = r ? "emulated error" : "no error"; return 0; }
}
