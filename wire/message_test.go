package wire

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/fsl-project/fsl/params"
)

// sampleMessages holds one message of every type with every field set to a
// value that differs from the zero value, so a field the codec forgets to
// write or read fails the round trip.
func sampleMessages() []Message {
	return []Message{
		&Join{Worker: "gpu-node-3", ID: "w-7f3a", Threads: 16, GPU: -1, Version: "v0.3.1"},
		&JoinAck{Job: "omniglot-proto", WorkerID: "w-7f3a#2", LeaseTimeout: 30 * time.Second, HeartbeatEvery: 5 * time.Second,
			Version: 41, LayoutHash: 0xdeadbeefcafe, Spec: []byte("model: conv4\nloss: proto\n"), Epoch: 42},
		&WorkRequest{Worker: "w-7f3a#2", Canary: "485a016f", Class: "cpu amd64 kernels=avx512+winograd blas=openblas/Haswell"},
		&Lease{Step: 41, Shard: 3, Version: 41, Timeout: 20 * time.Second, Attempt: 1, Batch: params.Batch{
			Kind: 1, Size: 4, Pixels: []uint8{0, 255, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 200, 201, 202, 203, 0, 0, 0, 0, 1, 1, 1, 1, 9, 9, 9, 9},
			Labels: []int32{0, 1}, Way: 2, Shot: 1, Query: 0, Same: nil}},
		&Lease{Step: 7, Shard: 0, Version: 7, Timeout: time.Second, Batch: params.Batch{
			Kind: 2, Size: 1, Pixels: []uint8{1, 2, 3, 4}, Labels: []int32{5, 5, 9, -1}, Same: []uint8{1, 0}}},
		&Lease{Step: 9, Shard: 1, Version: 9, Timeout: time.Second, Batch: colourBatch()},
		&Wait{RetryAfter: 250 * time.Millisecond, Reason: "step 41 fully leased"},
		&Done{FinalVersion: 10000},
		&Result{params.Result{Worker: "w-7f3a#2", Step: 41, Shard: 3, Version: 41, Loss: 0.6931471805599453, Count: 60,
			Grads: params.Vector{0.5, -1.25, float32(math.Inf(1)), 3e-8}, Stats: params.Vector{1, 2}, LayoutHash: 0xdeadbeefcafe}},
		&ParamsRequest{Version: 41},
		&Params{Version: 41, LayoutHash: 0xdeadbeefcafe, Params: params.Vector{1, 2, 3, -4.5}, State: params.Vector{0.25}},
		&Heartbeat{Worker: "w-7f3a#2", Busy: true, Step: 41, Shard: 3, Attempt: 1, Version: 41},
		&Ctl{Kind: CtlDrain, Worker: "w-7f3a#2", FinalVersion: 0, Reason: "scale down"},
		&Ctl{Kind: CtlDone, FinalVersion: 10000, Reason: "finished"},
		&Ctl{Kind: CtlHello, Reason: "coordinator started", Epoch: 0x9e3779b97f4a7c15},
		&StatusRequest{},
		&Status{Body: []byte(`{"step":41}`)},
		&CheckpointRequest{Which: "best"},
		&Checkpoint{Step: 40, Body: []byte{1, 2, 3, 4, 5}},
		&Command{Body: []byte(`{"op":"assign","worker":"w-1"}`)},
		&Error{Code: CodeStaleVersion, Text: "version 39 superseded by 41"},
	}
}

// reframe returns frame with its trailing CRC recomputed, so a test can
// reach the checks that come after the checksum.
func reframe(frame []byte) []byte {
	out := append([]byte(nil), frame...)
	body := out[:len(out)-4]
	binary.LittleEndian.PutUint32(out[len(out)-4:], crc32.Checksum(body, castagnoli))
	return out
}

// frame builds a frame from a raw type, version and body with a valid CRC.
func frame(t Type, version byte, body []byte) []byte {
	b := append([]byte{byte(t), version}, body...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func mustEncode(t testing.TB, m Message) []byte {
	t.Helper()
	b, err := Encode(m)
	if err != nil {
		t.Fatalf("Encode(%T): %v", m, err)
	}
	return b
}

func TestEveryMessageTypeRoundTrips(t *testing.T) {
	for _, m := range sampleMessages() {
		t.Run(m.Type().String(), func(t *testing.T) {
			b := mustEncode(t, m)
			if Type(b[0]) != m.Type() || b[1] != ProtocolVersion {
				t.Fatalf("frame starts %d %d, want type %d version %d", b[0], b[1], m.Type(), ProtocolVersion)
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(got, m) {
				t.Fatalf("round trip changed the message:\n got %#v\nwant %#v", got, m)
			}
		})
	}
}

func TestSamplesCoverEveryType(t *testing.T) {
	seen := map[Type]bool{}
	for _, m := range sampleMessages() {
		seen[m.Type()] = true
	}
	for ty := Type(1); ty < typeEnd; ty++ {
		if !seen[ty] {
			t.Errorf("no sample message of type %v", ty)
		}
		if m := newMessage(ty); m == nil || m.Type() != ty {
			t.Errorf("newMessage(%v) = %T", ty, m)
		}
	}
}

func TestDecodedMessageDoesNotAliasInput(t *testing.T) {
	b := mustEncode(t, &Status{Body: []byte("abc")})
	m, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 0
	}
	if got := string(m.(*Status).Body); got != "abc" {
		t.Fatalf("body changed with the input buffer: %q", got)
	}
}

func TestAnySingleByteChangeIsDetected(t *testing.T) {
	for _, m := range sampleMessages() {
		b := mustEncode(t, m)
		for i := range b {
			for _, mask := range []byte{0x01, 0x80, 0xff, 0x5a} {
				c := append([]byte(nil), b...)
				c[i] ^= mask
				if got, err := Decode(c); err == nil {
					t.Fatalf("%v: byte %d ^ %#x decoded without error as %#v", m.Type(), i, mask, got)
				}
			}
		}
	}
}

func TestCorruptBodyIsChecksumError(t *testing.T) {
	b := mustEncode(t, &Result{params.Result{Worker: "w", Grads: params.Vector{1, 2, 3}}})
	b[len(b)/2] ^= 0x10
	if _, err := Decode(b); !errors.Is(err, ErrChecksum) {
		t.Fatalf("Decode of a corrupted frame: err = %v, want ErrChecksum", err)
	}
}

func TestTruncatedFramesAreRejected(t *testing.T) {
	for _, m := range sampleMessages() {
		b := mustEncode(t, m)
		for n := 0; n < len(b); n++ {
			if _, err := Decode(b[:n]); err == nil {
				t.Fatalf("%v: %d of %d bytes decoded without error", m.Type(), n, len(b))
			}
			// Even with a valid checksum, a short body is malformed.
			if n >= 2 {
				short := frame(Type(b[0]), b[1], b[2:n])
				if _, err := Decode(short); err == nil && n != len(b)-4 {
					t.Fatalf("%v: body cut to %d bytes with a valid CRC decoded without error", m.Type(), n-2)
				}
			}
		}
	}
}

func TestDecodeErrorsNameTheCondition(t *testing.T) {
	lease := mustEncode(t, &Lease{Step: 1, Batch: params.Batch{Pixels: []byte{1, 2, 3}}})
	hb := mustEncode(t, &Heartbeat{Worker: "w", Busy: true})
	hugeLen := binary.LittleEndian.AppendUint32(nil, math.MaxUint32)
	tests := []struct {
		name  string
		frame []byte
		want  error
	}{
		{"empty", nil, ErrMalformed},
		{"shorter than the frame", []byte{1, 1, 0}, ErrMalformed},
		{"bad checksum", append(append([]byte(nil), lease[:len(lease)-1]...), lease[len(lease)-1]^1), ErrChecksum},
		{"type zero", frame(0, ProtocolVersion, nil), ErrUnknownType},
		{"type past the last", frame(typeEnd, ProtocolVersion, nil), ErrUnknownType},
		{"chunk marker is not a message", frame(chunkMagic, ProtocolVersion, nil), ErrUnknownType},
		{"future protocol version", frame(TypeDone, ProtocolVersion+1, make([]byte, 8)), ErrProtocolVersion},
		{"trailing bytes", frame(TypeDone, ProtocolVersion, make([]byte, 9)), ErrMalformed},
		{"missing field", frame(TypeDone, ProtocolVersion, make([]byte, 7)), ErrMalformed},
		{"string length past the end", frame(TypeWait, ProtocolVersion, append(make([]byte, 8), hugeLen...)), ErrMalformed},
		{"vector length past the end", frame(TypeParams, ProtocolVersion, append(make([]byte, 16), hugeLen...)), ErrMalformed},
		{"boolean byte 2", reframe(append(append([]byte(nil), hb[:2+4+1]...), append([]byte{2}, hb[2+4+1+1:]...)...)), ErrMalformed},
		{"unknown ctl kind", frame(TypeCtl, ProtocolVersion, append([]byte{9}, make([]byte, 24)...)), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode(tt.frame)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode = %#v, %v; want error wrapping %v", m, err, tt.want)
			}
			if m != nil {
				t.Fatalf("Decode returned a message with an error: %#v", m)
			}
		})
	}
}

func TestHugeClaimedLengthDoesNotAllocate(t *testing.T) {
	// A Result whose grads claim 2^32-1 floats but carry none: the decoder
	// must refuse before allocating 16 GiB.
	body := binary.LittleEndian.AppendUint32(nil, 1)
	body = append(body, 'w')
	body = append(body, make([]byte, 8*5)...)
	body = binary.LittleEndian.AppendUint32(body, math.MaxUint32)
	f := frame(TypeResult, ProtocolVersion, body)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Decode(f)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v, want ErrMalformed", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("decoding a lying length allocated %d bytes", grew)
	}
}

func TestNilAndEmptySlicesEncodeAlike(t *testing.T) {
	a := mustEncode(t, &Params{Params: nil})
	b := mustEncode(t, &Params{Params: params.Vector{}})
	if string(a) != string(b) {
		t.Fatalf("nil and empty vectors encode differently: %x vs %x", a, b)
	}
}

func TestNaNBitsSurviveTheWire(t *testing.T) {
	// The coordinator rejects NaN gradients; the wire must deliver them
	// bit for bit so it can.
	nan := math.Float32frombits(0x7fc00001)
	m, err := Decode(mustEncode(t, &Result{params.Result{Grads: params.Vector{nan}, Loss: math.NaN()}}))
	if err != nil {
		t.Fatal(err)
	}
	r := m.(*Result)
	if math.Float32bits(r.Grads[0]) != 0x7fc00001 || !math.IsNaN(r.Loss) {
		t.Fatalf("NaN payload changed: grads %x loss %v", math.Float32bits(r.Grads[0]), r.Loss)
	}
}

func TestErrorReplyMatchesSentinels(t *testing.T) {
	tests := []struct {
		code                 Code
		stale, notFound, rej bool
	}{
		{CodeStaleVersion, true, false, true},
		{CodeNotFound, false, true, true},
		{CodeBadRequest, false, false, true},
		{CodeUnavailable, false, false, true},
		{CodeInternal, false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.code.String(), func(t *testing.T) {
			var err error = &Error{Code: tt.code, Text: "x"}
			if errors.Is(err, ErrStaleVersion) != tt.stale || errors.Is(err, ErrNotFound) != tt.notFound || errors.Is(err, ErrRejected) != tt.rej {
				t.Fatalf("errors.Is mismatch for %v", err)
			}
			if errors.Is(err, ErrChecksum) {
				t.Fatalf("%v matches ErrChecksum", err)
			}
		})
	}
}

func TestAppendEncodeKeepsPrefix(t *testing.T) {
	prefix := []byte("xyz")
	b, err := AppendEncode(prefix, &Done{FinalVersion: 3})
	if err != nil {
		t.Fatal(err)
	}
	if string(b[:3]) != "xyz" {
		t.Fatalf("prefix lost: %q", b[:3])
	}
	m, err := Decode(b[3:])
	if err != nil || m.(*Done).FinalVersion != 3 {
		t.Fatalf("Decode(appended) = %#v, %v", m, err)
	}
}
