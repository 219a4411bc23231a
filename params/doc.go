// Package params is the vocabulary of a training step, shared by every fsl
// package that touches one, and what is done to parameters between two
// steps.
//
// It provides:
//   - Batch and Kind: one shard's input (pixels plus the structure its loss
//     needs), made by the samplers (episodes), carried by wire, computed on
//     by model; and Result, one shard's answer (gradients, statistics, loss,
//     count), filled by model, addressed by the worker, carried by wire and
//     judged by the coordinator's state machine. One type each: nobody
//     converts them.
//   - Layout: the names, shapes and offsets of the tensors inside one flat
//     Vector (NewLayout is the only builder, Validate the only check, Equal
//     and Hash the comparisons), and a Hash that changes when any name,
//     shape or their order changes, so that two processes can check they
//     agree on a layout.
//   - Vector helpers: New, Clone, Equal (bit for bit), SHA256 (of the
//     little-endian bytes, used to compare runs for exactness) and
//     FirstNonFinite/CheckFinite, the one finiteness check.
//   - Encoder and Decoder: the one binary codec, with which wire writes its
//     messages and checkpoints their stored values; the decoder never panics
//     and never allocates beyond its input.
//   - Optimizers (SGD with momentum and optional Nesterov, Adam) whose whole
//     state is a list of Vectors that the checkpoint store saves, with L2 or
//     decoupled weight decay, global gradient-norm clipping and learning-rate
//     schedules (constant, step, cosine, each with optional linear warmup).
//   - Aggregator: the weighted mean of per-shard vectors, taken and summed
//     in shard order only (the caller orders arrivals), so the result is the
//     same bits however many workers there were and however they were
//     scheduled; and EMA, the running-statistics merge.
//
// All arithmetic that must be reproducible is done element by element in a
// fixed order in float64 and rounded once to float32; products are wrapped in
// explicit float64 conversions so that the compiler may not fuse them into
// FMA instructions, which would change results between architectures.
//
// params imports only the standard library. It must never import NATS, bbolt,
// Gorgonia or any other fsl package.
package params
