//go:build cgo && !purego

package model

/*
#cgo LDFLAGS: -lopenblas
void openblas_set_num_threads(int);
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
