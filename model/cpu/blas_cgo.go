//go:build cgo && !purego

package cpu

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>

// OpenBLAS is opened at run time, not linked: a binary built here runs on
// a machine without it (pure-Go gonum then), and building needs no
// libopenblas-dev, only a C compiler.
typedef void (*fsl_sgemm_fn)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
typedef void (*fsl_dgemm_fn)(int, int, int, int, int, int, double, const double*, int, const double*, int, double, double*, int);
typedef void (*fsl_int_fn)(int);
typedef char* (*fsl_name_fn)(void);
typedef void (*fsl_void_fn)(void);

static fsl_sgemm_fn fsl_p_sgemm;
static fsl_dgemm_fn fsl_p_dgemm;
static fsl_int_fn fsl_p_threads;
static fsl_name_fn fsl_p_core;
static fsl_void_fn fsl_p_dinit, fsl_p_dquit;

static int fsl_blas_open(void) {
	const char* names[] = {"libopenblas.so.0", "libopenblas.so", "libopenblasp.so.0", NULL};
	void* h = NULL;
	for (int i = 0; names[i] && !h; i++) h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
	if (!h) return 0;
	fsl_p_sgemm = (fsl_sgemm_fn)dlsym(h, "cblas_sgemm");
	fsl_p_dgemm = (fsl_dgemm_fn)dlsym(h, "cblas_dgemm");
	fsl_p_threads = (fsl_int_fn)dlsym(h, "openblas_set_num_threads");
	fsl_p_core = (fsl_name_fn)dlsym(h, "openblas_get_corename");
	fsl_p_dinit = (fsl_void_fn)dlsym(h, "gotoblas_dynamic_init");
	fsl_p_dquit = (fsl_void_fn)dlsym(h, "gotoblas_dynamic_quit");
	return fsl_p_sgemm && fsl_p_dgemm;
}

static void fsl_sgemm(int ta, int tb, int m, int n, int k, float alpha, const float* a, int lda,
		const float* b, int ldb, float beta, float* c, int ldc) {
	fsl_p_sgemm(101, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc); // 101: CblasRowMajor
}

static void fsl_dgemm(int ta, int tb, int m, int n, int k, double alpha, const double* a, int lda,
		const double* b, int ldb, double beta, double* c, int ldc) {
	fsl_p_dgemm(101, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

static void fsl_set_threads(int n) { if (fsl_p_threads) fsl_p_threads(n); }
static const char* fsl_core(void) { return fsl_p_core ? fsl_p_core() : "unknown"; }

// fsl_force_core re-runs OpenBLAS's (DYNAMIC_ARCH) kernel selection as if
// OPENBLAS_CORETYPE had been name at load time. Called once, before any
// BLAS call of this process.
static void fsl_force_core(const char* name) {
	if (!fsl_p_dinit || !fsl_p_dquit) return;
	setenv("OPENBLAS_CORETYPE", name, 1);
	fsl_p_dquit();
	fsl_p_dinit();
	unsetenv("OPENBLAS_CORETYPE");
}
*/
import "C"

import (
	"os"
	"sync"
	"unsafe"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

var (
	blasOnce sync.Once
	haveBLAS bool // OpenBLAS was found and opened
)

// openBLAS opens OpenBLAS once per process; false when it is not installed.
func openBLAS() bool {
	blasOnce.Do(func() { haveBLAS = C.fsl_blas_open() == 1 })
	return haveBLAS
}

// openBLASImpl is gonum's BLAS with the matrix products (which are nearly
// all of this network's BLAS time) done by OpenBLAS.
type openBLASImpl struct{ gonum.Implementation }

func cTrans(t blas.Transpose) C.int {
	if t == blas.NoTrans {
		return 111 // CblasNoTrans
	}
	return 112 // CblasTrans
}

// Sgemm computes c = alpha·op(a)·op(b) + beta·c in row-major order.
func (openBLASImpl) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 || len(c) == 0 {
		return
	}
	if k == 0 || len(a) == 0 || len(b) == 0 {
		gonum.Implementation{}.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	C.fsl_sgemm(cTrans(tA), cTrans(tB), C.int(m), C.int(n), C.int(k), C.float(alpha),
		(*C.float)(unsafe.Pointer(&a[0])), C.int(lda), (*C.float)(unsafe.Pointer(&b[0])), C.int(ldb),
		C.float(beta), (*C.float)(unsafe.Pointer(&c[0])), C.int(ldc))
}

// Dgemm is Sgemm in float64 (the gradient checks).
func (openBLASImpl) Dgemm(tA, tB blas.Transpose, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	if m == 0 || n == 0 || len(c) == 0 {
		return
	}
	if k == 0 || len(a) == 0 || len(b) == 0 {
		gonum.Implementation{}.Dgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	C.fsl_dgemm(cTrans(tA), cTrans(tB), C.int(m), C.int(n), C.int(k), C.double(alpha),
		(*C.double)(unsafe.Pointer(&a[0])), C.int(lda), (*C.double)(unsafe.Pointer(&b[0])), C.int(ldb),
		C.double(beta), (*C.double)(unsafe.Pointer(&c[0])), C.int(ldc))
}

// useOnce: OpenBLAS's kernel set and thread count are process-wide, so
// the choice is made once, the same for every Kernels and every model.
var useOnce sync.Once

// UseBLAS routes this package's matrix products through OpenBLAS when it
// is installed, once per process, and returns the implementation chosen
// (for Gorgonia's own ops too: model hands it to gorgonia.Use); otherwise
// gonum's pure-Go BLAS stays. If OpenBLAS fell back to its
// generic "Prescott" kernels although the CPU has AVX2 or AVX-512 (VMs that
// hide the CPU model) and OPENBLAS_CORETYPE is not set, it switches to the
// kernels SuggestedBLASCore names: about 3× faster sgemm for this network.
// Set OPENBLAS_CORETYPE to choose yourself.
func UseBLAS() BLAS {
	useOnce.Do(func() {
		if !openBLAS() {
			return
		}
		// parallelism is ours, across pieces of the batch (Kernels.Threads)
		C.fsl_set_threads(1)
		if os.Getenv("OPENBLAS_CORETYPE") == "" {
			if core := SuggestedBLASCore(); core != "" {
				name := C.CString(core)
				C.fsl_force_core(name)
				C.free(unsafe.Pointer(name))
			}
		}
		impl = openBLASImpl{}
	})
	return impl
}

// BLASName names the BLAS this process computes with: "openblas" when the
// library was found at run time, else "gonum".
func BLASName() string {
	if openBLAS() {
		return "openblas"
	}
	return "gonum"
}

// BLASCore names the kernel set OpenBLAS uses, e.g. "SkylakeX" or
// "Haswell"; "Prescott" means generic SSE3 kernels (OpenBLAS did not
// recognise the CPU and UseBLAS did not or could not upgrade);
// "gonum" without OpenBLAS.
func BLASCore() string {
	if !openBLAS() {
		return "gonum"
	}
	return C.GoString(C.fsl_core())
}
