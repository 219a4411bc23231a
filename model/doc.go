// Package model owns the Gorgonia graphs of fsl: the Conv-4 embedding
// backbone, the three metric losses (triplet, Siamese pairs, prototypical
// episodes) and the mapping between every graph tensor and one flat
// parameter vector.
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
// batch norm → ReLU → max-pool 2×2 stride 2], one input channel. The
// spatial side goes s → s/2 (floor) four times, so any Size ≥ 16 works:
// 28×28 gives a 64-d embedding (28→14→7→3→1), 105×105 gives
// 64×6×6 = 2,304-d. Convolutions have no bias: a bias before batch norm is
// cancelled exactly by the mean subtraction (its gradient is zero), and
// batch norm's beta plays its role.
//
// Pixels. A uint8 pixel x enters the network as x/255 in [0, 1]; there is
// no other normalisation (the first batch norm centres and scales).
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
// Gorgonia ops of this package rather than Gorgonia's own, which
// measured 3-5× slower here: a 3×3 convolution, its input gradient as a
// convolution with flipped filters (conv.go) — as Winograd F(2×2, 3×3)
// for 16+ channels on images 4×4 and up (winograd.go), as a direct AVX-512
// kernel for the one-channel input (conv1.go), and otherwise as gemms over
// L2-sized chunks of the batch's patch matrix; batch-norm statistics; and
// batch norm, ReLU and 2×2 max-pooling fused into one op whose gradient
// ops reuse the routes of its forward pass (bnpool.go). The window
// kernels, the batch-norm sums and the Winograd transforms have AVX2 or
// AVX-512 assembly twins (internal/simd, used where the CPU has them)
// that give the same bits as the Go ones (simd.go, winograd.go); the
// first layer's direct kernel is checked bit for bit against a Go
// reference, and where it does not run (no AVX-512, float64) the first
// layer is im2col, whose bits differ, as OpenBLAS's kernel sets already
// do between CPU generations.
// Activations are laid out channel-major, [C N H W], so convolution
// outputs need no transposing.
// Each op's output memory is allocated on a graph's first run and reused
// by later runs (outbuf.go). Every op's gradient is checked against
// finite differences (gradcheck_test.go), and each op against Gorgonia's
// stock ops (stock_test.go).
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
// set (BLASCore), whatever the thread count (SetThreads): the work is cut
// into the same pieces for any count and combined in a fixed order.
// Workers of one job must agree on BLAS build and kernel set, or the same
// shard computed on two workers can differ in its last bits.
//
// Concurrency. A Model is safe for concurrent use. It caches one compiled
// graph per batch shape; calls that need the same graph run one at a time,
// calls on different shapes (or different Models) run in parallel. Graph
// construction is serialised by a package mutex because Gorgonia's is not
// goroutine-safe.
//
// BLAS. With cgo (the default build) the matrix products go through
// OpenBLAS (opened at run time, single-threaded: the parallelism is
// ours); with -tags purego or CGO_ENABLED=0
// they use gonum's pure-Go BLAS. OpenBLAS picks its kernels from the CPU
// model when the process starts; on VMs that hide the model it falls back
// to generic SSE3 kernels ("Prescott"), 3× slower here. New then switches
// to the AVX2 or AVX-512 kernels the CPU supports (SuggestedBLASCore)
// unless OPENBLAS_CORETYPE is set; BLASCore reports the result.
//
// model never imports NATS, bbolt, episodes or any other fsl package but
// params (for its Layout, Entry and Vector types).
package model
