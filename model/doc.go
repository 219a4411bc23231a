// Package model owns the Gorgonia graphs of fsl: the Conv-4 embedding
// backbone, the metric losses (triplets as sampled, triplets mined
// batch-hard or semi-hard from P classes × K images (mining.go), Siamese
// pairs, prototypical and Matching Networks episodes; loss.go) and the
// mapping between every graph tensor and one flat parameter vector.
//
// A Model is a pure function of (parameters, batch-norm state, batch):
//
//	m, _ := model.New(model.Config{Loss: params.KindTriplets})
//	p, state := m.Init(seed)
//	r, _ := m.Grad(p, state, &batch) // r.Grads is laid out like p
//	emb, _ := m.Embed(p, state, pixels, n)
//
// It keeps no training state of its own: parameters and the running
// batch-norm statistics live in params.Vector values owned by the caller
// (the coordinator), so any worker can compute any shard.
//
// Network. Conv-4: four blocks of [conv 3×3, Filters filters, pad 1 →
// batch norm → ReLU → max-pool 2×2 stride 2], Config.Channels input
// channels (1, grayscale, or 3, RGB; conv1.w is [F C 3 3]). The
// spatial side goes s → s/2 (floor) four times, so any Size ≥ 16 works:
// 28×28 gives a 64-d embedding (28→14→7→3→1), 105×105 gives
// 64×6×6 = 2,304-d. Convolutions have no bias: a bias before batch norm is
// cancelled exactly by the mean subtraction (its gradient is zero), and
// batch norm's beta plays its role.
//
// Pixels. A uint8 pixel x enters the network as x/255 in [0, 1]; there is
// no other normalisation (the first batch norm centres and scales). A
// batch's images are planar (params.Batch: each image its C planes one
// after another); Grad and Embed lay them out as the input tensor
// [C N H W] (plane c of image i at (c·N + i)), which for one channel is the
// pixels as they come.
//
// Batch norm. In Grad (training) each block normalises with the batch's
// own per-channel mean and biased variance over (N, H, W), eps 1e-5, and
// reports those statistics in Result.Stats (the variance there is the
// unbiased one, M/(M-1) times the biased, M = N·H·W, as running
// statistics conventionally are). Embed (evaluation) normalises with the
// running statistics from the state vector. The two paths are separate
// graphs; no op holds hidden state.
//
// Graph. The graph, its automatic differentiation and its execution are
// Gorgonia's (a TapeMachine per batch shape). The hot operations are
// Gorgonia ops of this package rather than Gorgonia's own, which measured
// 3-5× slower here: a 3×3 convolution and its gradients (conv.go), and
// batch norm, ReLU and 2×2 max-pooling fused into one op whose gradient ops
// reuse the routes of its forward pass (bnpool.go). The ops do only
// Gorgonia's bookkeeping; their arithmetic is model/cpu's kernels (plain
// slices in and out, on the Model's cpu.Kernels and so its thread count),
// whose package doc says how they compute and what bits they give.
// Activations are laid out channel-major, [C N H W], so convolution
// outputs need no transposing.
// Each op's output memory is allocated on a graph's first run and reused
// by later runs (outbuf.go). Every op's gradient is checked against
// finite differences (gradcheck_test.go), and each op against Gorgonia's
// stock ops (stock_test.go).
//
// Backends. New picks where Grad computes from its options: the CPU (the
// graphs above; the default) or, in binaries built with -tags fslcuda, a
// CUDA device (GPU option; device_cuda.go, grad_cuda.go and model/gpu).
// Both implement one interface (backend.go) with Grad's contract. The CUDA
// backend has no Matching Networks or mined-triplet head; New refuses
// those losses with the GPU option rather than compute another. Embed
// always computes on the CPU.
//
// Merging statistics across shards. The coordinator averages the Stats of
// a step's shards weighted by Result.Count, in shard order (the params
// aggregator), then folds them into the running statistics with
// params.EMA(state, merged, DefaultMomentum), momentum 0.1:
// running = (1-m)·running + m·merged.
// Weighting by Count equals weighting by images because every shard of a
// job has the same shape.
//
// Determinism. The same (parameters, state, batch) give bitwise identical
// results across runs and processes for a fixed BLAS build and kernel
// set (cpu.BLASCore), whatever the thread count (Threads): the work is cut
// into the same pieces for any count and combined in a fixed order.
// Workers of one job must agree on BLAS build and kernel set, or the same
// shard computed on two workers can differ in its last bits.
//
// Concurrency. A Model is safe for concurrent use. It caches one compiled
// graph per batch shape; calls that need the same graph run one at a time,
// calls on different shapes (or different Models) run in parallel. There
// is no process-wide setting: threads and device are options of each
// Model (New, Threads, GPU), and Models with different options coexist.
// What is shared is only what cannot change a result: graph construction
// is serialised by a package mutex because Gorgonia's is not
// goroutine-safe, the kernels' scratch buffers are pooled, and BLAS is
// chosen once per process (model/cpu).
//
// BLAS. The matrix products go through OpenBLAS when it is installed, or
// gonum's pure-Go BLAS (-tags purego, CGO_ENABLED=0); model/cpu chooses,
// once per process, when the first Model is made (cpu.UseBLAS).
//
// model never imports NATS, bbolt, episodes or any other fsl package but
// params (for its Kind, Batch, Result, Layout and Vector types) and its
// own model/cpu and model/gpu.
package model
