// Package machine is a training job's state machine: which shard of which
// step each worker computes, which results count, when a step is complete,
// when the parameters advance and when a checkpoint is due.
//
// Machine is a pure state machine in the style of etcd raft's
// RawNode. Callers feed it events (Join, Leave, Heartbeat, RequestWork,
// Result, Tick, Advance), each with an explicit now; it answers each event
// at once (a Reply, a Verdict, an error) and queues the work the caller must
// do (aggregate a complete step, publish a parameter version, write a
// checkpoint, end the job) as Outputs drained by Ready. It reads no clock,
// starts no goroutines, does no I/O and is not safe for concurrent use: one
// driver goroutine owns it. So every fault case (expired leases, lost
// workers, duplicate, late, stale or corrupt results, backups) is a table
// test with no sockets and no sleeps.
//
// The guarantee that matters: for every step the machine completes, exactly
// ShardsPerStep results are handed over, one per shard, in shard order
// 0..S-1, each the first valid result that arrived for its shard. Results
// are validated for shape, job, step, version, layout and finiteness; their
// values are the worker's business (the machine cannot recompute them).
//
// Clients that hold the job's token are not trusted to answer: a cap on
// one worker's leases, expired shards going to another worker first,
// backups of the leases of workers yet to deliver, and a doubling
// quarantine for a worker whose leases keep expiring keep a client that
// takes leases and never answers from stalling the job (see RequestWork).
//
// Step s is always computed from parameters of version s: version is the
// number of steps applied so far. A complete step waits for the driver to
// aggregate its results, run the optimizer and call Advance(s+1).
//
// machine imports only params and pure standard-library packages and never
// reads the clock (architecture_test.go checks both), so its tests and its
// fuzz target link nothing else. Package coordinator drives it.
package machine
