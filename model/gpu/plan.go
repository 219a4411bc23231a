package gpu

import (
	"fmt"
	"regexp"
	"strconv"
)

// Launch plans and version arithmetic of the CUDA backend: pure
// functions, in the default build so that CI tests them without a GPU.

// kernelNames are the entry points of kernels.cu that a Net launches.
var kernelNames = []string{
	"pixels_to_float", "im2col", "col2im", "sgemm", "sum_parts", "channel_partial",
	"bn_mean", "bn_var", "bn_relu", "maxpool", "maxpool_back", "bn_back_partial",
	"bn_back_params", "bn_back_dx",
}

// Maximum split-K parts and reduction chunks (buffer sizes depend on them).
const (
	maxSplits = 1024
	maxChunks = 512
	threads   = 256
)

// chunks splits a per-channel reduction over m values into parts of
// chunk values; a function of m alone, so sums are reproducible.
func chunks(m int) (parts, chunk int) {
	parts = min(maxChunks, max(1, (m+8191)/8192))
	chunk = (m + parts - 1) / parts
	return (m + chunk - 1) / chunk, chunk
}

// splitK chooses how to split the inner dimension k of an m×nn gemm so
// that the grid has enough blocks: returns the number of parts and the
// k-length of each (a multiple of 16).
func splitK(m, nn, k int) (parts, chunk int) {
	tiles := ((m + 63) / 64) * ((nn + 63) / 64)
	const target = 512 // blocks: a few per SM of a large GPU
	parts = min(maxSplits, target/tiles, k/256)
	if parts <= 1 {
		return 1, k
	}
	chunk = (k + parts - 1) / parts
	chunk = (chunk + 15) / 16 * 16
	return (k + chunk - 1) / chunk, chunk
}

var ptxVersion = regexp.MustCompile(`(?m)^\.version (\d+)\.(\d+)`)

// ptxNeeds returns the driver CUDA version (1000·major + 10·minor) that
// the PTX's ISA version needs, and the ISA version; 0 when unknown (the
// module load then reports any mismatch). PTX ISA 7.x came with CUDA
// 11.x, 8.x with 12.x, 9.x with 13.x.
func ptxNeeds(src string) (int, string) {
	m := ptxVersion.FindStringSubmatch(src)
	if m == nil {
		return 0, "unknown"
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	isa := m[1] + "." + m[2]
	if major < 7 || major > 9 {
		return 0, isa
	}
	return (major+4)*1000 + 10*minor, isa
}

// cudaVersion spells 11080 as "11.8".
func cudaVersion(v int) string { return fmt.Sprintf("%d.%d", v/1000, v%1000/10) }
