// Package coordinator owns a training job: which shard of which step each
// worker computes, which results count, when a step is complete, when the
// parameters advance and when a checkpoint is due.
//
// The core is the state machine, package coordinator/machine: a pure
// Machine fed events with an explicit now (see its documentation).
//
// Beside the machine:
//   - JobSpec (spec.go) defines a job; Trainer (trainer.go) turns a complete
//     step into the next parameter version (shard-order aggregation,
//     optimizer, running batch-norm statistics) with no I/O, so RunLocal
//     (local.go, one process, no NATS) and the driver produce the same bits.
//   - The Driver (driver.go) connects machine and trainer to NATS (wire),
//     bbolt (checkpoints) and the clock, holding idle workers' requests
//     (long polling) until work appears.
//   - The HTTP monitor (http.go, metrics.go, dashboard.go) serves
//     Prometheus metrics, /status and the embedded dashboard.
//
// The package may import episodes, params, checkpoints, wire,
// wire/transport, coordinator/machine, the Prometheus client (monitor
// only), and model only to lay out and initialise parameters; never
// worker, eval or cli.
package coordinator
