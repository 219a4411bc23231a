package wire

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/fsl-project/fsl/params"
)

var t0 = time.Unix(1_700_000_000, 0)

// bigParams returns a Params of n values with a recognisable pattern.
func bigParams(version uint64, n int) *Params {
	p := &Params{Version: version, LayoutHash: 0xabc, Params: make(params.Vector, n), State: params.Vector{float32(version)}}
	for i := range p.Params {
		p.Params[i] = float32(i%1000)*0.5 + float32(version)
	}
	return p
}

func mustSplit(t testing.TB, m Message, max int) [][]byte {
	t.Helper()
	parts, err := Split(m, max)
	if err != nil {
		t.Fatalf("Split: %v", err)
	}
	return parts
}

// feedAll feeds parts and returns the messages they complete.
func feedAll(t *testing.T, r *Receiver, parts [][]byte) []Message {
	t.Helper()
	var out []Message
	for i, p := range parts {
		m, err := r.Feed(p, t0)
		if err != nil {
			t.Fatalf("Feed(part %d): %v", i, err)
		}
		if m != nil {
			out = append(out, m)
		}
	}
	return out
}

func TestSplitKeepsEveryPayloadUnderMax(t *testing.T) {
	for _, max := range []int{MinPayload, 1000, 4096, 64 << 10} {
		m := bigParams(1, 30_000)
		parts := mustSplit(t, m, max)
		if len(parts) < 2 {
			t.Fatalf("max %d: %d parts, want chunking", max, len(parts))
		}
		for i, p := range parts {
			if len(p) > max {
				t.Fatalf("max %d: part %d is %d bytes", max, i, len(p))
			}
		}
		got := feedAll(t, NewReceiver(ReceiverOptions{}), parts)
		if len(got) != 1 || !reflect.DeepEqual(got[0], Message(m)) {
			t.Fatalf("max %d: reassembled %d messages, want the original", max, len(got))
		}
	}
}

func TestSmallMessageTravelsAsOnePlainFrame(t *testing.T) {
	m := &Done{FinalVersion: 9}
	parts := mustSplit(t, m, MinPayload)
	if len(parts) != 1 || parts[0][0] != byte(TypeDone) {
		t.Fatalf("parts = %x, want one plain frame", parts)
	}
	got := feedAll(t, NewReceiver(ReceiverOptions{}), parts)
	if len(got) != 1 || got[0].(*Done).FinalVersion != 9 {
		t.Fatalf("got %#v", got)
	}
}

func TestSplitRefusesTooSmallMaxPayload(t *testing.T) {
	if _, err := Split(bigParams(1, 1000), MinPayload-1); err == nil {
		t.Fatal("Split with a max payload below MinPayload succeeded")
	}
}

func TestChunksReassembleInAnyOrder(t *testing.T) {
	m := bigParams(3, 5000)
	parts := mustSplit(t, m, 1024)
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
	got := feedAll(t, NewReceiver(ReceiverOptions{}), parts)
	if len(got) != 1 || !reflect.DeepEqual(got[0], Message(m)) {
		t.Fatalf("shuffled chunks gave %d messages, want the original", len(got))
	}
}

// chunksFrom re-encodes the chunks of m as if published by sender with
// message id id.
func chunksFrom(t *testing.T, m Message, max int, sender, id uint64) [][]byte {
	t.Helper()
	var out [][]byte
	for _, p := range mustSplit(t, m, max) {
		c, err := decodeChunk(p)
		if err != nil {
			t.Fatal(err)
		}
		c.sender, c.id = sender, id
		out = append(out, appendChunk(nil, c))
	}
	return out
}

func TestInterleavedChunksFromTwoPublishersReassemble(t *testing.T) {
	// Same message id from two senders: the key must include the sender.
	a, b := bigParams(1, 4000), bigParams(2, 6000)
	pa, pb := chunksFrom(t, a, 2048, 111, 7), chunksFrom(t, b, 2048, 222, 7)
	var mixed [][]byte
	for i := 0; i < len(pa) || i < len(pb); i++ {
		if i < len(pa) {
			mixed = append(mixed, pa[i])
		}
		if i < len(pb) {
			mixed = append(mixed, pb[i])
		}
	}
	got := feedAll(t, NewReceiver(ReceiverOptions{}), mixed)
	if len(got) != 2 {
		t.Fatalf("got %d messages, want 2", len(got))
	}
	if !reflect.DeepEqual(got[0], Message(a)) || !reflect.DeepEqual(got[1], Message(b)) {
		t.Fatal("interleaved messages came back mixed up")
	}
}

func TestCorruptChunkIsChecksumErrorNotAMessage(t *testing.T) {
	m := bigParams(1, 4000)
	parts := mustSplit(t, m, 2048)
	for _, at := range []int{0, 5, chunkHeaderLen + 10, 1000, len(parts[1]) - 1} {
		r := NewReceiver(ReceiverOptions{Timeout: time.Minute})
		bad := append([]byte(nil), parts[1]...)
		bad[at] ^= 0x04
		for i, p := range parts {
			if i == 1 {
				p = bad
			}
			got, err := r.Feed(p, t0)
			if got != nil {
				t.Fatalf("byte %d corrupted: Feed returned a message", at)
			}
			if i == 1 && !errors.Is(err, ErrChecksum) {
				t.Fatalf("byte %d corrupted: err = %v, want ErrChecksum", at, err)
			}
			if i != 1 && err != nil {
				t.Fatalf("byte %d corrupted: good chunk %d: %v", at, i, err)
			}
		}
		if s := r.Stats(); s.Rejected != 1 || s.Pending != 1 || s.Messages != 0 {
			t.Fatalf("stats = %+v, want 1 rejected, 1 pending", s)
		}
		if n := r.Expire(t0.Add(2 * time.Minute)); n != 1 {
			t.Fatalf("Expire dropped %d, want the incomplete message", n)
		}
		if s := r.Stats(); s.Dropped != 1 || s.Pending != 0 || s.PendingBytes != 0 {
			t.Fatalf("after expiry stats = %+v", s)
		}
	}
}

func TestCorruptDataUnderValidChunkCRCIsCaughtByMessageCRC(t *testing.T) {
	m := bigParams(1, 4000)
	parts := mustSplit(t, m, 2048)
	c, err := decodeChunk(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	data := append([]byte(nil), c.data...)
	data[17] ^= 0x01
	c.data = data
	parts[2] = appendChunk(nil, c)
	r := NewReceiver(ReceiverOptions{})
	var last error
	for _, p := range parts {
		got, err := r.Feed(p, t0)
		if got != nil {
			t.Fatal("a corrupted message was delivered")
		}
		last = err
	}
	if !errors.Is(last, ErrChecksum) {
		t.Fatalf("completing chunk: err = %v, want ErrChecksum", last)
	}
}

func TestIncompleteMessageIsDroppedAfterTimeout(t *testing.T) {
	parts := mustSplit(t, bigParams(1, 4000), 2048)
	r := NewReceiver(ReceiverOptions{Timeout: 10 * time.Second})
	for _, p := range parts[:len(parts)-1] {
		if _, err := r.Feed(p, t0); err != nil {
			t.Fatal(err)
		}
	}
	// The last chunk arrives too late: the rest were dropped, so it starts
	// a new partial instead of completing a message.
	m, err := r.Feed(parts[len(parts)-1], t0.Add(11*time.Second))
	if m != nil || err != nil {
		t.Fatalf("late chunk: %v, %v", m, err)
	}
	if s := r.Stats(); s.Dropped != 1 || s.Pending != 1 || s.Messages != 0 {
		t.Fatalf("stats = %+v, want 1 dropped and the late chunk pending", s)
	}
}

func TestDuplicateChunksAreIgnored(t *testing.T) {
	m := bigParams(1, 3000)
	parts := mustSplit(t, m, 2048)
	withDup := append([][]byte{parts[0], parts[0]}, parts[1:]...)
	r := NewReceiver(ReceiverOptions{})
	got := feedAll(t, r, withDup)
	if len(got) != 1 || !reflect.DeepEqual(got[0], Message(m)) {
		t.Fatalf("got %d messages", len(got))
	}
	if s := r.Stats(); s.Duplicates != 1 {
		t.Fatalf("Duplicates = %d, want 1", s.Duplicates)
	}
}

func TestReceiverEnforcesBounds(t *testing.T) {
	m := bigParams(1, 4000) // ~16 KB
	parts := mustSplit(t, m, 2048)

	t.Run("message over MaxMessageBytes", func(t *testing.T) {
		r := NewReceiver(ReceiverOptions{MaxMessageBytes: 8 << 10})
		if _, err := r.Feed(parts[0], t0); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("err = %v, want ErrTooLarge", err)
		}
		if s := r.Stats(); s.Pending != 0 || s.PendingBytes != 0 {
			t.Fatalf("refused chunk was kept: %+v", s)
		}
	})
	t.Run("pending count evicts the oldest", func(t *testing.T) {
		r := NewReceiver(ReceiverOptions{MaxPendingCount: 2})
		for i := uint64(1); i <= 3; i++ {
			first := chunksFrom(t, m, 2048, 9, i)[0]
			if _, err := r.Feed(first, t0.Add(time.Duration(i)*time.Millisecond)); err != nil {
				t.Fatal(err)
			}
		}
		if s := r.Stats(); s.Pending != 2 || s.Dropped != 1 {
			t.Fatalf("stats = %+v, want 2 pending, 1 dropped", s)
		}
		// Message 1 was evicted; messages 3 completes.
		got := feedAll(t, r, chunksFrom(t, m, 2048, 9, 3)[1:])
		if len(got) != 1 {
			t.Fatalf("message 3 did not complete after the eviction of message 1")
		}
	})
	t.Run("pending bytes evict the oldest", func(t *testing.T) {
		r := NewReceiver(ReceiverOptions{MaxPendingBytes: 20 << 10})
		a, b := chunksFrom(t, m, 2048, 1, 1), chunksFrom(t, m, 2048, 2, 1)
		feedAll(t, r, a[:len(a)-1])
		got := feedAll(t, r, b)
		if len(got) != 1 {
			t.Fatalf("b did not complete")
		}
		s := r.Stats()
		if s.Dropped != 1 || s.Pending != 0 || s.PendingBytes != 0 {
			t.Fatalf("stats = %+v, want a dropped and nothing pending", s)
		}
	})
	t.Run("single message over MaxPendingBytes", func(t *testing.T) {
		r := NewReceiver(ReceiverOptions{MaxPendingBytes: 4 << 10})
		var last error
		for _, p := range parts {
			if _, err := r.Feed(p, t0); err != nil {
				last = err
				break
			}
		}
		if !errors.Is(last, ErrTooLarge) {
			t.Fatalf("err = %v, want ErrTooLarge", last)
		}
		if s := r.Stats(); s.PendingBytes > 4<<10 {
			t.Fatalf("pending bytes %d over the bound", s.PendingBytes)
		}
	})
}

func TestInconsistentChunkHeadersAreMalformed(t *testing.T) {
	parts := chunksFrom(t, bigParams(1, 4000), 2048, 5, 5)
	tests := []struct {
		name   string
		mutate func(c chunk) chunk
	}{
		{"count differs", func(c chunk) chunk { c.count++; return c }},
		{"total differs", func(c chunk) chunk { c.total--; return c }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := decodeChunk(parts[1])
			if err != nil {
				t.Fatal(err)
			}
			r := NewReceiver(ReceiverOptions{})
			if _, err := r.Feed(parts[0], t0); err != nil {
				t.Fatal(err)
			}
			if _, err := r.Feed(appendChunk(nil, tt.mutate(c)), t0); !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
			if s := r.Stats(); s.Pending != 0 {
				t.Fatalf("inconsistent message still pending: %+v", s)
			}
		})
	}
}

func TestDecodeChunkRejectsBadHeaders(t *testing.T) {
	good := chunk{sender: 1, id: 2, index: 0, count: 2, total: 10, data: []byte{1, 2, 3}}
	tests := []struct {
		name string
		c    chunk
		want error
	}{
		{"zero count", chunk{sender: 1, id: 2, index: 0, count: 0, total: 10, data: []byte{1}}, ErrMalformed},
		{"index past count", chunk{sender: 1, id: 2, index: 2, count: 2, total: 10, data: []byte{1}}, ErrMalformed},
		{"more data than total", chunk{sender: 1, id: 2, index: 0, count: 1, total: 2, data: []byte{1, 2, 3}}, ErrMalformed},
		{"more chunks than bytes", chunk{sender: 1, id: 2, index: 0, count: 5, total: 3, data: []byte{1}}, ErrMalformed},
		{"no data", chunk{sender: 1, id: 2, index: 0, count: 1, total: 3}, ErrMalformed},
	}
	if _, err := decodeChunk(appendChunk(nil, good)); err != nil {
		t.Fatalf("good chunk: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := decodeChunk(appendChunk(nil, tt.c)); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	wrongVersion := appendChunk(nil, good)
	wrongVersion[1]++
	if _, err := decodeChunk(reframe(wrongVersion)); !errors.Is(err, ErrProtocolVersion) {
		t.Fatalf("future chunk version: err = %v", err)
	}
}

func TestReceiverRejectsEmptyAndGarbagePayloads(t *testing.T) {
	r := NewReceiver(ReceiverOptions{})
	for _, p := range [][]byte{nil, {}, {chunkMagic}, []byte("PING\r\n"), {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}} {
		if m, err := r.Feed(p, t0); err == nil || m != nil {
			t.Fatalf("Feed(%q) = %v, %v; want an error", p, m, err)
		}
	}
	if s := r.Stats(); s.Rejected != 5 {
		t.Fatalf("Rejected = %d, want 5", s.Rejected)
	}
}
