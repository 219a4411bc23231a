package wire

import (
	"errors"
	"testing"
	"unsafe"

	"github.com/fsl-project/fsl/params"
)

// within reports whether v's values lie inside b, and at which offset.
func within(v params.Vector, b []byte) (int, bool) {
	if len(v) == 0 || len(b) == 0 {
		return 0, false
	}
	off := uintptr(unsafe.Pointer(&v[0])) - uintptr(unsafe.Pointer(&b[0]))
	return int(off), off < uintptr(len(b))
}

// TestFloatArraysStartAlignedAndAreShared: whatever the length of the
// fields before them (here the worker's ID), a result's gradients start a
// multiple of 4 bytes into the frame; a receiver uses them where they lie
// (no copy of a 447 KB gradient) and Decode copies them.
func TestFloatArraysStartAlignedAndAreShared(t *testing.T) {
	for n := 0; n < 8; n++ {
		worker := "w-" + string(make([]byte, n))
		in := &Result{Result: params.Result{Worker: worker, Step: 3, Shard: 1, Version: 3, Loss: 0.5, Count: 30,
			Grads: params.Vector{1, -2, 3.5, 1e-30}, Stats: params.Vector{4, 5, 6}}}
		b := mustEncode(t, in)
		r := NewReceiver(ReceiverOptions{})
		m, err := r.Feed(b, t0)
		if err != nil {
			t.Fatalf("worker ID of %d bytes: %v", len(worker), err)
		}
		got := m.(*Result)
		off, ok := within(got.Grads, b)
		if !ok || off%4 != 0 {
			t.Errorf("worker ID of %d bytes: gradients at offset %d of the frame (inside %v), want inside at a multiple of 4", len(worker), off, ok)
		}
		if _, ok := within(got.Stats, b); !ok {
			t.Errorf("worker ID of %d bytes: statistics copied, want shared", len(worker))
		}
		copied, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := within(copied.(*Result).Grads, b); ok {
			t.Errorf("worker ID of %d bytes: Decode shares the frame's gradients, want a copy", len(worker))
		}
		if !got.Grads.Equal(in.Grads) || !copied.(*Result).Grads.Equal(in.Grads) || !got.Stats.Equal(in.Stats) {
			t.Errorf("worker ID of %d bytes: decoded %v / %v, want %v", len(worker), got.Grads, copied.(*Result).Grads, in.Grads)
		}
	}
}

// TestNonZeroPaddingIsMalformed: the padding before a float array is part
// of the canonical encoding.
func TestNonZeroPaddingIsMalformed(t *testing.T) {
	in := &Result{Result: params.Result{Worker: "w", Grads: params.Vector{1, 2}, Stats: params.Vector{}}}
	b := mustEncode(t, in)
	// type, version, worker (4+1), step, shard, version, loss, count (5×8),
	// the gradients' length (4): 51 bytes, padded by 1.
	const pad = 2 + 5 + 40 + 4
	if b[pad] != 0 {
		t.Fatalf("byte %d is %#x, want the zero padding", pad, b[pad])
	}
	b[pad] = 7
	if _, err := Decode(reframe(b)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Decode with padding 7: %v, want ErrMalformed", err)
	}
}
