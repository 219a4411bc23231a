// Package worker is the loop of one fsl worker: join a job, pull a shard,
// bring its parameters up to the shard's version, compute the gradient with
// model, reply, heartbeat; on a drain request or SIGTERM it finishes the
// shard in hand and leaves. A CtlHello with a new coordinator epoch cancels
// the request in flight, which went to a coordinator that is gone, and the
// worker asks again at once. With Config.GiveUpAfter, a worker that no
// coordinator of its job has answered for that long (a wrong job ID, a
// coordinator gone for good) stops with ErrGaveUp.
//
// A worker keeps no dataset and no state a restart would lose: every lease
// carries its batch, and parameters are fetched from the coordinator.
//
// worker imports model, params and wire; never episodes, bbolt or cli.
package worker
