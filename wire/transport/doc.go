// Package transport carries package wire's messages over NATS.
//
// Connect returns a Conn, and everything fsl does on NATS is a method of
// it: Send (publish, chunked), Request (send with a reply inbox, reassemble
// the reply, turn an Error reply into an error), Subscribe (reassemble and
// decode every message of a subject), Flush and Close. Errors callers
// branch on are this package's ErrAuthorization, ErrNoResponders and
// ErrClosed, and wire's Error-reply sentinels (wire.ErrStaleVersion,
// wire.ErrNotFound, wire.ErrRejected, ...). StartServer runs the embedded
// server; pass it as ConnectOptions.InProcess to reach it in memory.
// WriteAuth and Role give the embedded server role credentials, each role
// limited to its subjects.
//
// Ownership and imports. transport owns the NATS plumbing: no NATS type
// appears in its API, so it is the one fsl package that imports nats.go
// and nats-server (coordinator, worker and cli must not; only tests that
// act as a raw NATS client may). It imports the standard library, nats.go,
// nats-server, wire and params; never episodes, model, checkpoints,
// coordinator, worker, eval or cli. Its tests start real servers, which is
// why they are not wire's: a fuzz target in a test binary that links the
// server pays for the server's coverage counters on every input.
package transport
