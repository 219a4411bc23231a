// Package cpu owns fsl's CPU compute kernels: the 3×3 convolution and its
// input and weight gradients (im2col and gemm, Winograd F(2×2, 3×3) for 16+
// channels on images 4×4 and up, a direct AVX-512 kernel for the
// one-channel input; a three-channel (RGB) input is im2col's, 27 patch
// rows), the batch-norm statistics, and batch norm, ReLU and
// 2×2 max-pooling fused with their gradients. Package model wraps them in
// Gorgonia ops; this package knows nothing of graphs.
//
// API. Every kernel is a function of plain slices, laid out channel-major
// ([C N H W]), with the shapes as ints, and a *Kernels: the thread count a
// call spreads over and the kernel set (New). Kernels hold no state between
// calls except Routes, which a fused forward call leaves for its gradient
// calls and which the caller owns.
//
// Determinism. The work of a call is cut into pieces that depend only on
// the shapes, each piece runs single-threaded BLAS, and pieces are
// combined in a fixed order, so the bits do not depend on the thread
// count. The AVX2 and AVX-512 assembly kernels (internal/simd) give the
// same bits as their Go twins (simd.go, winograd.go; the tests compare
// them); the first layer's direct kernel is checked bit for bit against a
// Go reference, and where it does not run (no AVX-512, float64) the first
// layer is im2col, whose bits differ, as OpenBLAS's kernel sets already do
// between CPU generations.
//
// BLAS. With cgo (the default build) the matrix products go through
// OpenBLAS (opened at run time, single-threaded: the parallelism is ours);
// with -tags purego or CGO_ENABLED=0 they use gonum's pure-Go BLAS.
// OpenBLAS picks its kernels from the CPU model when the process starts; on
// VMs that hide the model it falls back to generic SSE3 kernels
// ("Prescott"), 3× slower here. UseBLAS then switches to the AVX2 or
// AVX-512 kernels the CPU supports (SuggestedBLASCore) unless
// OPENBLAS_CORETYPE is set; BLASCore reports the result.
//
// Process-wide state, on purpose: the BLAS choice (Gorgonia's BLAS and
// OpenBLAS's settings are per process; made once by UseBLAS) and pools of
// scratch buffers (no contents carried between uses). Neither changes a
// result.
//
// cpu imports no fsl package (not params, not model) and never NATS,
// bbolt or episodes.
package cpu
