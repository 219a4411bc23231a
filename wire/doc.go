// Package wire is the one place that knows fsl's protocol: the NATS subjects
// of a job, the messages exchanged on them and their binary encoding, the
// chunking of messages larger than the server's max payload, and the
// embedded NATS server and client connection setup.
//
// Encoding. Every message is framed as
//
//	type (1 byte) | protocol version (1 byte) | body | CRC-32C (4 bytes)
//
// little-endian throughout, with explicit u32 lengths before every string
// and slice, and the Castagnoli CRC over everything before it. Decode checks
// the checksum before it looks at anything else, never panics, and never
// allocates more than the input's length justifies.
//
// Chunking. A message larger than the connection's max payload is split into
// chunks, each carrying (sender, message id, index, count, total length) and
// its own CRC; a Receiver reassembles them, keyed by (sender, message id) so
// chunks of different publishers may interleave, within bounded memory and
// a timeout. Messages that fit go out as one plain frame.
//
// Transport. Connect returns a Conn, and everything fsl does on NATS is a
// method of it: Send (publish, chunked), Request (send with a reply inbox,
// reassemble the reply, turn an Error reply into an error), Subscribe
// (reassemble and decode every message of a subject), Flush and Close.
// Errors callers branch on are this package's: ErrAuthorization,
// ErrNoResponders, ErrClosed, and the Error-reply sentinels ErrStaleVersion,
// ErrNotFound and ErrRejected. StartServer runs the embedded server; pass it
// as ConnectOptions.InProcess to reach it in memory.
//
// Ownership and imports. wire owns subject names, message layouts and the
// NATS plumbing: no NATS type appears in its API, so it is the one fsl
// package that imports nats.go and nats-server (coordinator, worker and cli
// must not; only tests that act as a raw NATS client may). It may import
// the standard library, nats.go, nats-server and params types; it must
// never import episodes, model, checkpoints, coordinator, worker, eval or
// cli, and it knows nothing of episodes, models or bbolt: payloads such as
// job specs, status and checkpoints are opaque bytes here.
package wire
