package wire

import (
	"fmt"
	"sync"
	"time"
)

// Receiver defaults, used for zero ReceiverOptions fields.
const (
	DefaultReassemblyTimeout = 30 * time.Second
	DefaultMaxMessageBytes   = 256 << 20
	DefaultMaxPendingBytes   = 256 << 20
	DefaultMaxPendingCount   = 64
)

// ReceiverOptions bound a Receiver. The zero value uses the defaults above.
type ReceiverOptions struct {
	// Timeout is how long a chunked message may take from its first chunk
	// to its last; after that its chunks are dropped and counted in
	// ReceiverStats.Dropped.
	Timeout time.Duration
	// MaxMessageBytes is the largest reassembled message accepted; chunks
	// of larger messages are refused with ErrTooLarge.
	MaxMessageBytes int
	// MaxPendingBytes bounds the chunk data buffered for incomplete
	// messages, in total over all of them; when a chunk would exceed it,
	// the oldest incomplete messages are dropped (counted in Dropped), and
	// when the chunk's own message alone would, it is refused (Rejected).
	// Subscriptions also cap the bytes NATS queues for them at this.
	MaxPendingBytes int
	// MaxPendingCount bounds the number of incomplete messages; the oldest
	// is dropped to make room for a new one.
	MaxPendingCount int
}

func (o ReceiverOptions) withDefaults() ReceiverOptions {
	if o.Timeout <= 0 {
		o.Timeout = DefaultReassemblyTimeout
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if o.MaxPendingBytes <= 0 {
		o.MaxPendingBytes = DefaultMaxPendingBytes
	}
	if o.MaxPendingCount <= 0 {
		o.MaxPendingCount = DefaultMaxPendingCount
	}
	return o
}

// ReceiverStats counts what a Receiver has seen since it was made.
type ReceiverStats struct {
	// Messages is the number of whole messages returned.
	Messages int
	// Chunks is the number of chunk frames accepted.
	Chunks int
	// Dropped is the number of incomplete chunked messages abandoned
	// because they timed out or were evicted to respect the bounds.
	Dropped int
	// Rejected is the number of payloads refused with an error (checksum,
	// malformed, unknown type, too large).
	Rejected int
	// Duplicates is the number of chunks ignored because their index had
	// already arrived.
	Duplicates int
	// Pending and PendingBytes describe the incomplete messages held now.
	Pending      int
	PendingBytes int
}

type partialKey struct{ sender, id uint64 }

type partial struct {
	first        time.Time
	count, total uint32
	got          map[uint32][]byte
	bytes        int
}

// Receiver turns a stream of payloads (plain frames and chunk frames, from
// any number of publishers, chunks of different messages interleaved) into
// whole messages. Memory is bounded by ReceiverOptions and by the bytes that
// actually arrived, never by the sizes headers claim. A Receiver is safe for
// concurrent use.
type Receiver struct {
	opts    ReceiverOptions
	mu      sync.Mutex
	partial map[partialKey]*partial
	stats   ReceiverStats
}

// Options returns the bounds r keeps, defaults filled in.
func (r *Receiver) Options() ReceiverOptions { return r.opts }

// NewReceiver returns a Receiver bounded by opts.
func NewReceiver(opts ReceiverOptions) *Receiver {
	return &Receiver{opts: opts.withDefaults(), partial: make(map[partialKey]*partial)}
}

// Feed takes one payload received at now. It returns the whole message when
// the payload is a plain frame or completes a chunked message, (nil, nil)
// when it is a chunk of a message still incomplete, and an error wrapping
// ErrChecksum, ErrMalformed, ErrUnknownType, ErrProtocolVersion or
// ErrTooLarge when the payload, or the message it completes, is bad. A bad
// chunk never yields a wrong message. The message may share payload's
// memory (its float arrays): the caller must not write to payload
// afterwards, as no NATS subscriber does to a message's data.
func (r *Receiver) Feed(payload []byte, now time.Time) (Message, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expire(now)
	m, err := r.feed(payload, now)
	if err != nil {
		r.stats.Rejected++
		return nil, err
	}
	if m != nil {
		r.stats.Messages++
	}
	return m, nil
}

func (r *Receiver) feed(payload []byte, now time.Time) (Message, error) {
	if len(payload) == 0 {
		return nil, fmt.Errorf("wire: empty payload: %w", ErrMalformed)
	}
	if payload[0] != chunkMagic {
		return decodeShared(payload)
	}
	c, err := decodeChunk(payload)
	if err != nil {
		return nil, err
	}
	if uint64(c.total) > uint64(r.opts.MaxMessageBytes) {
		return nil, fmt.Errorf("wire: chunked message %x/%x of %d bytes exceeds the %d-byte limit: %w",
			c.sender, c.id, c.total, r.opts.MaxMessageBytes, ErrTooLarge)
	}
	key := partialKey{c.sender, c.id}
	p := r.partial[key]
	if p == nil {
		if len(r.partial) >= r.opts.MaxPendingCount {
			r.evictOldest(key)
		}
		p = &partial{first: now, count: c.count, total: c.total, got: make(map[uint32][]byte)}
		r.partial[key] = p
	}
	if p.count != c.count || p.total != c.total {
		r.remove(key)
		return nil, fmt.Errorf("wire: chunk %d of message %x/%x says %d chunks and %d bytes, earlier chunks said %d and %d: %w",
			c.index, c.sender, c.id, c.count, c.total, p.count, p.total, ErrMalformed)
	}
	if _, dup := p.got[c.index]; dup {
		r.stats.Duplicates++
		return nil, nil
	}
	if uint64(p.bytes)+uint64(len(c.data)) > uint64(p.total) {
		r.remove(key)
		return nil, fmt.Errorf("wire: chunks of message %x/%x hold more than the %d bytes announced: %w", c.sender, c.id, p.total, ErrMalformed)
	}
	for r.stats.PendingBytes+len(c.data) > r.opts.MaxPendingBytes && len(r.partial) > 1 {
		r.evictOldest(key)
	}
	if r.stats.PendingBytes+len(c.data) > r.opts.MaxPendingBytes {
		r.remove(key)
		return nil, fmt.Errorf("wire: chunked message %x/%x does not fit the %d-byte reassembly buffer: %w", c.sender, c.id, r.opts.MaxPendingBytes, ErrTooLarge)
	}
	p.got[c.index] = append([]byte(nil), c.data...)
	p.bytes += len(c.data)
	r.stats.PendingBytes += len(c.data)
	r.stats.Chunks++
	if uint32(len(p.got)) < p.count {
		return nil, nil
	}
	r.remove(key)
	if p.bytes != int(p.total) {
		return nil, fmt.Errorf("wire: chunks of message %x/%x hold %d bytes, announced %d: %w", c.sender, c.id, p.bytes, p.total, ErrMalformed)
	}
	whole := make([]byte, 0, p.total)
	for i := uint32(0); i < p.count; i++ {
		whole = append(whole, p.got[i]...)
	}
	return decodeShared(whole)
}

// Expire drops incomplete messages older than the timeout at now and returns
// how many it dropped. Feed calls it too; call it from a ticker when
// payloads may stop arriving.
func (r *Receiver) Expire(now time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.expire(now)
}

func (r *Receiver) expire(now time.Time) int {
	n := 0
	for key, p := range r.partial {
		if now.Sub(p.first) > r.opts.Timeout {
			r.remove(key)
			r.stats.Dropped++
			n++
		}
	}
	return n
}

// evictOldest drops the oldest incomplete message other than keep.
func (r *Receiver) evictOldest(keep partialKey) {
	var oldest partialKey
	var found *partial
	for key, p := range r.partial {
		if key != keep && (found == nil || p.first.Before(found.first)) {
			oldest, found = key, p
		}
	}
	if found != nil {
		r.remove(oldest)
		r.stats.Dropped++
	}
}

func (r *Receiver) remove(key partialKey) {
	if p := r.partial[key]; p != nil {
		r.stats.PendingBytes -= p.bytes
		delete(r.partial, key)
	}
}

// Stats returns the receiver's counters.
func (r *Receiver) Stats() ReceiverStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	s.Pending = len(r.partial)
	return s
}
