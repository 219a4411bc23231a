//go:build fslcuda

package cli

// cudaSupport is --version's CUDA line: this binary computes on CUDA
// devices (fsl-worker --gpu N).
const cudaSupport = "yes (built with -tags fslcuda: fsl-worker --gpu N)"
