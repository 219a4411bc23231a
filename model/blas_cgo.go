//go:build cgo && !purego

package model

/*
#cgo LDFLAGS: -lopenblas
#include <stdlib.h>
void openblas_set_num_threads(int);
char* openblas_get_corename(void);
void gotoblas_dynamic_init(void);
void gotoblas_dynamic_quit(void);

// fsl_force_core re-runs OpenBLAS's (DYNAMIC_ARCH) kernel selection as if
// OPENBLAS_CORETYPE had been name at load time. Called once, before any
// BLAS call of this process.
static void fsl_force_core(const char* name) {
	setenv("OPENBLAS_CORETYPE", name, 1);
	gotoblas_dynamic_quit();
	gotoblas_dynamic_init();
	unsetenv("OPENBLAS_CORETYPE");
}
*/
import "C"

import (
	"os"
	"sync"
	"unsafe"

	"gonum.org/v1/netlib/blas/netlib"
	G "gorgonia.org/gorgonia"
)

var blasOnce sync.Once

// useBLAS routes Gorgonia's (and gorgonia/tensor's) matrix products, and
// this package's, through OpenBLAS, once per process. If OpenBLAS fell
// back to its generic "Prescott" kernels although the CPU has AVX2 or
// AVX-512 (VMs that hide the CPU model) and OPENBLAS_CORETYPE is not set,
// it switches to the kernels SuggestedBLASCore names: about 3× faster
// sgemm for this network. Set OPENBLAS_CORETYPE to choose yourself.
func useBLAS() {
	blasOnce.Do(func() {
		if os.Getenv("OPENBLAS_CORETYPE") == "" {
			if core := SuggestedBLASCore(); core != "" {
				name := C.CString(core)
				C.fsl_force_core(name)
				C.free(unsafe.Pointer(name))
			}
		}
		G.Use(netlib.Implementation{})
	})
}

// BLASName names the BLAS this binary uses.
const BLASName = "openblas"

// SetThreads sets the number of threads OpenBLAS uses (n ≥ 1; smaller n
// is taken as 1). Results are bitwise reproducible for a fixed thread
// count; set it before computing, e.g. to 1 on a worker that runs one
// shard per core.
func SetThreads(n int) {
	if n < 1 {
		n = 1
	}
	C.openblas_set_num_threads(C.int(n))
}

// BLASCore names the kernel set OpenBLAS uses, e.g. "SkylakeX" or
// "Haswell"; "Prescott" means generic SSE3 kernels (OpenBLAS did not
// recognise the CPU and New did not or could not upgrade; see useBLAS).
func BLASCore() string { return C.GoString(C.openblas_get_corename()) }
