package cli

import (
	"log/slog"

	"github.com/fsl-project/fsl/model/cpu"
)

// blasMissing is the one line a command computing on the CPU logs when
// OpenBLAS is not in use (model/cpu opens it at run time).
const blasMissing = "OpenBLAS not found (libopenblas.so.0), or a build without cgo: matrix products run in pure Go, about 5× slower; install OpenBLAS (Debian/Ubuntu: apt-get install libopenblas0) for full speed"

// noteBLAS logs blasMissing, as a warning, when blas (cpu.BLASName) is not
// OpenBLAS. (It also changes the compute class: a job holds its workers
// to one, see coordinator/class.go.)
func noteBLAS(log *slog.Logger) { noteBLASNamed(log, cpu.BLASName()) }

func noteBLASNamed(log *slog.Logger, blas string) {
	if blas != "openblas" {
		log.Warn(blasMissing, "blas", blas)
	}
}
