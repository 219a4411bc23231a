//go:build cgo && !purego

package model

/*
#cgo LDFLAGS: -lopenblas
void openblas_set_num_threads(int);
char* openblas_get_corename(void);
*/
import "C"

import (
	"sync"

	"gonum.org/v1/netlib/blas/netlib"
	G "gorgonia.org/gorgonia"
)

var blasOnce sync.Once

// useBLAS routes Gorgonia's (and gorgonia/tensor's) matrix products
// through OpenBLAS, once per process.
func useBLAS() { blasOnce.Do(func() { G.Use(netlib.Implementation{}) }) }

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

// BLASCore names the kernel set OpenBLAS chose when the process started,
// e.g. "SkylakeX" or "Haswell"; "Prescott" means it did not recognise the
// CPU (seen on VMs whose CPUID hides the model) and fell back to SSE3
// kernels, about 3× slower for this network. OpenBLAS reads the
// OPENBLAS_CORETYPE environment variable only at load time, so the
// override must be in the environment before the process starts; see
// SuggestedBLASCore.
func BLASCore() string { return C.GoString(C.openblas_get_corename()) }
