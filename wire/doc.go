// Package wire is the one place that knows fsl's protocol: the NATS subjects
// of a job, the messages exchanged on them and their binary encoding, and
// the chunking of messages larger than the server's max payload. Sending
// them over NATS is its subpackage transport's.
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
// Ownership and imports. wire owns subject names and message layouts. It
// imports the standard library and params only: no NATS code, so its tests
// and fuzz targets link no server and the fuzzer's coverage stays the
// decoder's. It must never import episodes, model, checkpoints,
// coordinator, worker, eval or cli, and it knows nothing of episodes,
// models or bbolt: payloads such as job specs, status and checkpoints are
// opaque bytes here.
package wire
