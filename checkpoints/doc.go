// Package checkpoints owns the training store: one bbolt file that holds, per
// job, the job record (spec bytes, layout, dataset fingerprint, status, times),
// the checkpoints keyed by step (parameters, model state, optimizer state,
// metrics), and the pointer to the best checkpoint by a validation metric.
//
// Guarantees:
//   - Every write (PutJob, Save, Prune, Import) is one bbolt transaction with
//     fsync on, so a crash leaves either the old or the new state, never a mix.
//   - Every checkpoint value carries a CRC-32C over all its bytes and the
//     SHA-256 of the parameters; both are checked on every load, and a value
//     that fails gives ErrCorrupt naming the job and step.
//   - A file this package does not recognise (not bbolt, no fsl meta bucket, or
//     a newer store format) is never written to: Open fails with ErrNotStore or
//     ErrNewerFormat and leaves its bytes untouched. A new store file appears
//     atomically (built beside the target, then linked into place).
//
// Readers and a running writer: bbolt lets one process hold the file for
// writing and blocks every other open meanwhile. Opens wait at most the lock
// timeout and then fail with ErrLocked. A writer opened with
// WithReleaseBetweenWrites holds the file only during each call (open, one
// transaction, close), so readers such as `fsl-coord eval` or `fsl-coord
// checkpoints ls`, opening WithReadOnly, get in between two saves.
//
// Exports: Export/Import move one checkpoint with its job record in fsl's
// own verified format; WriteSafetensors/ReadSafetensors read and write the
// safetensors format (F32 tensors and string metadata) for other tools.
//
// checkpoints imports bbolt, the standard library and params types only; it
// must never import NATS, gorgonia, the coordinator or cli.
package checkpoints
