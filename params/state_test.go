package params

import (
	"bytes"
	"errors"
	"testing"
)

func TestStateRoundTripsThroughOneBlob(t *testing.T) {
	l := smallLayout(t, 5)
	for _, cfg := range []OptimizerConfig{{Name: "adam"}, {Name: "sgd", Momentum: 0.9}, {Name: "sgd"}} {
		opt, err := NewOptimizer(cfg, l)
		if err != nil {
			t.Fatal(err)
		}
		if err := opt.Step(Vector{1, 2, 3, 4, 5}, Vector{0.5, -1, 2, 0, 3}, 0); err != nil {
			t.Fatal(err)
		}
		want := opt.State()
		got, err := DecodeState(EncodeState(want, l.Hash()), l)
		if err != nil {
			t.Fatalf("%s: %v", cfg.Name, err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d vectors back, want %d", cfg.Name, len(got), len(want))
		}
		for i := range want {
			if !got[i].Equal(want[i]) {
				t.Errorf("%s: vector %d differs", cfg.Name, i)
			}
		}
		if err := opt.SetState(got); err != nil {
			t.Errorf("%s: SetState of decoded state: %v", cfg.Name, err)
		}
	}
}

func TestDecodeStateRejectsCorruptionAndOtherLayouts(t *testing.T) {
	l := smallLayout(t, 3)
	b := EncodeState([]Vector{{1, 2, 3}, {4, 5, 6}}, l.Hash())
	for i := range b {
		c := bytes.Clone(b)
		c[i] ^= 0x20
		if _, err := DecodeState(c, l); err == nil {
			t.Errorf("byte %d changed and accepted", i)
		}
	}
	for n := range len(b) {
		if _, err := DecodeState(b[:n], l); err == nil {
			t.Errorf("first %d of %d bytes accepted", n, len(b))
		}
	}
	other := smallLayout(t, 4)
	if _, err := DecodeState(b, other); !errors.Is(err, ErrLayout) {
		t.Errorf("other layout: %v, want ErrLayout", err)
	}
	// Frames that lie about their size under a valid outer checksum.
	c := bytes.Clone(b)
	c[stateHeaderSize]++
	if _, err := DecodeState(reseal(c), l); !errors.Is(err, ErrFormat) && !errors.Is(err, ErrChecksum) {
		t.Errorf("frame length off by one: %v, want ErrFormat or ErrChecksum", err)
	}
	c = bytes.Clone(b)
	c[8] = 1 // one vector claimed, two present
	if _, err := DecodeState(reseal(c), l); !errors.Is(err, ErrFormat) {
		t.Errorf("vector count too low: %v, want ErrFormat", err)
	}
	c[8] = 200
	if _, err := DecodeState(reseal(c), l); !errors.Is(err, ErrFormat) {
		t.Errorf("absurd vector count: %v, want ErrFormat", err)
	}
}

func FuzzDecodeState(f *testing.F) {
	l, _ := NewLayout(Spec{"w", []int{3}})
	f.Add(EncodeState([]Vector{{1, 2, 3}, {4, 5, 6}}, l.Hash()))
	f.Add(EncodeState(nil, l.Hash()))
	f.Add([]byte("FSLS"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := DecodeState(b, l)
		if err != nil {
			return
		}
		for i, v := range st {
			if len(v) != 3 {
				t.Fatalf("vector %d has length %d for a 3-value layout", i, len(v))
			}
		}
		if again := EncodeState(st, l.Hash()); !bytes.Equal(again, b) {
			t.Errorf("decode then encode changed the bytes")
		}
	})
}
