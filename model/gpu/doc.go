// Package gpu is the CUDA backend of package model: the CUDA context of one
// device, device buffers allocated once per batch shape and reused across
// steps, and our own kernels (kernels.cu, compiled by nvcc to kernels.ptx,
// which is committed and embedded) loaded at run time through the CUDA
// driver API: module load, kernel launch, memory copies. Nothing else of
// CUDA is needed where the worker runs: no runtime library, no cuBLAS, no
// cuDNN, no nvcc; only libcuda.so.1 from the NVIDIA driver.
//
// Everything that talks to CUDA is behind the fslcuda build tag (not
// "cuda": that tag switches on Gorgonia's own GPU path, which needs
// cudagen output and cuDNN); the default build compiles only the host-side loss heads (heads.go), which the CUDA
// step uses to turn embeddings into the loss and its gradient with respect
// to the embeddings, and which are tested against finite differences
// without a GPU.
//
// Network. Net runs the Conv-4 backbone of package model: four blocks of
// [conv 3×3 pad 1 no bias → training-mode batch norm (batch statistics,
// biased variance, eps 1e-5) → ReLU → max-pool 2×2 stride 2 (floor)], on
// pixels x/255, in float32 with activations laid out [C N H W] as on the
// CPU. Convolution is im2col + a tiled sgemm; the weight gradient's long
// inner dimension is split and the parts summed in a fixed order; the
// batch-norm sums accumulate in float64 in a fixed-order tree. So a step
// is deterministic on one device: the same inputs give bitwise identical
// results.
//
// Binding. The driver API is bound with cgo here (driver_cuda.go) rather
// than through gorgonia.org/cu: cu v0.9.4 calls cuInit in its package
// init and calls os.Exit(1) when that fails, so any binary importing it
// dies at start on a machine without a GPU, before it can fall back to the
// CPU or print a useful error.
//
// gpu imports only the standard library. It never imports package model
// (model imports gpu), params, episodes, NATS or bbolt.
package gpu
