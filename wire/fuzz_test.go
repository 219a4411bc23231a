package wire

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"
)

var sentinels = []error{ErrChecksum, ErrMalformed, ErrUnknownType, ErrProtocolVersion, ErrTooLarge}

func wrapsSentinel(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// FuzzDecode feeds arbitrary frames to Decode. Seeds are real encodings of
// every message type (grayscale and colour batches among them) and colour
// leases with a bad channel count. A frame that decodes must re-encode to
// the same bytes (the encoding is canonical); one that does not must fail
// with a sentinel.
func FuzzDecode(f *testing.F) {
	for _, m := range sampleMessages() {
		b := mustEncode(f, m)
		f.Add(b)
		f.Add(reframe(append(b[:len(b)-4:len(b)-4], 0, 0, 0, 0, 0)))
	}
	colour := mustEncode(f, &Lease{Step: 3, Timeout: time.Second, Batch: colourBatch()})
	for _, c := range []byte{0, 1, 2, 4} {
		b := append([]byte(nil), colour...)
		b[2+48+1+8] = c // the channel count after kind and size
		f.Add(reframe(b))
	}
	f.Add(frame(TypeResult, ProtocolVersion, []byte{0xff, 0xff, 0xff, 0xff}))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		// A receiver's decoding, which may share b's float arrays, must
		// agree with it in every case.
		if shared, serr := decodeShared(b); (serr == nil) != (err == nil) || (err == nil && !reflect.DeepEqual(shared, m)) {
			t.Fatalf("decodeShared = %#v, %v; Decode = %#v, %v", shared, serr, m, err)
		}
		if err != nil {
			if m != nil {
				t.Fatalf("message %#v returned with error %v", m, err)
			}
			if !wrapsSentinel(err) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		again, err := Encode(m)
		if err != nil {
			t.Fatalf("re-encode %T: %v", m, err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("%T re-encodes differently:\n in %x\nout %x", m, b, again)
		}
	})
}

// FuzzChunkFrame feeds arbitrary payloads to the chunk decoder. Seeds are
// real chunks. A chunk that decodes must re-encode to the same bytes.
func FuzzChunkFrame(f *testing.F) {
	parts, err := Split(bigParams(1, 200), MinPayload)
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range parts {
		f.Add(p)
	}
	f.Add(appendChunk(nil, chunk{count: 1, total: 1, data: []byte{0}}))
	f.Fuzz(func(t *testing.T, p []byte) {
		c, err := decodeChunk(p)
		if err != nil {
			if !wrapsSentinel(err) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		if again := appendChunk(nil, c); !bytes.Equal(again, p) {
			t.Fatalf("chunk re-encodes differently:\n in %x\nout %x", p, again)
		}
	})
}

// FuzzReceiver drives a small Receiver with chunks whose headers come from
// the input, checksummed so they get past the CRC and exercise reassembly.
// Ops are: sender, id, index, count (1 byte each), total (2 bytes), data
// length (1 byte), data. The receiver must stay within its bounds and only
// ever yield valid messages.
func FuzzReceiver(f *testing.F) {
	// Seed: the chunks of a real message, as ops.
	parts, err := Split(&Status{Body: bytes.Repeat([]byte("fsl"), 100)}, MinPayload)
	if err != nil {
		f.Fatal(err)
	}
	var seed []byte
	for _, p := range parts {
		c, err := decodeChunk(p)
		if err != nil {
			f.Fatal(err)
		}
		seed = append(seed, 1, 1, byte(c.index), byte(c.count), byte(c.total), byte(c.total>>8), byte(len(c.data)))
		seed = append(seed, c.data...)
	}
	f.Add(seed)
	f.Add([]byte{1, 1, 0, 2, 10, 0, 3, 'a', 'b', 'c', 2, 1, 1, 2, 10, 0, 7, 1, 2, 3, 4, 5, 6, 7})
	opts := ReceiverOptions{Timeout: time.Second, MaxMessageBytes: 1 << 10, MaxPendingBytes: 2 << 10, MaxPendingCount: 4}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReceiver(opts)
		now := t0
		for len(in) >= 7 {
			c := chunk{sender: uint64(in[0]), id: uint64(in[1]), index: uint32(in[2]), count: uint32(in[3]),
				total: uint32(in[4]) | uint32(in[5])<<8}
			n := min(int(in[6]), len(in)-7)
			c.data = in[7 : 7+n]
			in = in[7+n:]
			now = now.Add(time.Duration(c.sender%3) * 400 * time.Millisecond)
			m, err := r.Feed(appendChunk(nil, c), now)
			if err != nil && !wrapsSentinel(err) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			if m != nil {
				if _, err := Encode(m); err != nil {
					t.Fatalf("yielded message does not re-encode: %v", err)
				}
			}
			s := r.Stats()
			if s.PendingBytes > opts.MaxPendingBytes || s.Pending > opts.MaxPendingCount || s.PendingBytes < 0 {
				t.Fatalf("receiver out of bounds: %+v", s)
			}
		}
	})
}
