//go:build !fslcuda

package cli

// cudaSupport is --version's CUDA line: this binary computes on the CPU
// only.
const cudaSupport = "no (CPU only; scripts/cuda/build.sh builds with CUDA)"
