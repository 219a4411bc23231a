package wire

import (
	"testing"

	"github.com/fsl-project/fsl/params"
)

// conv4Floats is about the parameter count of a Conv-4 backbone (4 blocks of
// 64 3x3 filters): a ~450 KB float32 gradient.
const conv4Floats = 112_000

func conv4Result() *Result {
	g := make(params.Vector, conv4Floats)
	for i := range g {
		g[i] = float32(i) * 1e-6
	}
	return &Result{params.Result{Worker: "w-1", Step: 100, Shard: 7, Version: 100, Loss: 0.5, Count: 60, Grads: g, LayoutHash: 42}}
}

func BenchmarkEncodeResultConv4(b *testing.B) {
	m := conv4Result()
	b.SetBytes(int64(4 * conv4Floats))
	for b.Loop() {
		if _, err := Encode(m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeResultConv4(b *testing.B) {
	enc := mustEncode(b, conv4Result())
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		if _, err := Decode(enc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSplitReassembleParams5MB measures chunking alone: split into 1 MB
// payloads and reassemble, no network.
func BenchmarkSplitReassembleParams5MB(b *testing.B) {
	m := bigParams(1, 5<<20/4)
	r := NewReceiver(ReceiverOptions{})
	b.SetBytes(5 << 20)
	for b.Loop() {
		parts, err := Split(m, 1<<20)
		if err != nil {
			b.Fatal(err)
		}
		var got Message
		for _, p := range parts {
			if got, err = r.Feed(p, t0); err != nil {
				b.Fatal(err)
			}
		}
		if got == nil {
			b.Fatal("no message")
		}
	}
}
