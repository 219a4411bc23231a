// Package params owns flat parameter, gradient and state vectors and what is
// done to them between two training steps.
//
// It provides:
//   - Layout: the names, shapes and offsets of the tensors inside one flat
//     Vector, and a Hash that changes when any name, shape or their order
//     changes, so that two processes can check they agree on a layout.
//   - Vector helpers: New, Clone, Equal (bit for bit), SHA256 (of the
//     little-endian bytes, used to compare runs for exactness).
//   - Optimizers (SGD with momentum and optional Nesterov, Adam) whose whole
//     state is a list of Vectors that the checkpoint store saves, with L2 or
//     decoupled weight decay, global gradient-norm clipping and learning-rate
//     schedules (constant, step, cosine, each with optional linear warmup).
//   - Aggregator: the weighted mean of per-shard vectors, taken and summed
//     in shard order only (the caller orders arrivals), so the result is the
//     same bits however many workers there were and however they were
//     scheduled; and
//     EMA for running statistics.
//   - A binary codec for vectors (float32 or bfloat16 payload, layout hash,
//     CRC-32C) whose decoder rejects any corruption without panicking, and
//     EncodeState/DecodeState to keep an optimizer's state as one blob.
//
// All arithmetic that must be reproducible is done element by element in a
// fixed order in float64 and rounded once to float32; products are wrapped in
// explicit float64 conversions so that the compiler may not fuse them into
// FMA instructions, which would change results between architectures.
//
// params imports only the standard library. It must never import NATS, bbolt,
// Gorgonia or any other fsl package.
package params
