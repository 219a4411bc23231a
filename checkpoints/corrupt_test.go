package checkpoints

import (
	"errors"
	"math/rand/v2"
	"testing"
)

// TestEverySingleByteFlipIsDetected flips each byte of a stored value (every
// position of a small checkpoint, sampled positions of a 1.3 MB one), writes
// it into the bucket with bbolt, and expects ErrCorrupt on load.
func TestEverySingleByteFlipIsDetected(t *testing.T) {
	tests := []struct {
		name            string
		nParams, nState int
		samples         int // 0: every position
	}{
		{"small checkpoint, every byte", 3, 2, 0},
		{"112k-parameter checkpoint, sampled bytes", modelParams, modelState, 64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, path := tempStore(t, WithReleaseBetweenWrites())
			if err := s.PutJob(testJob("j", tt.nParams)); err != nil {
				t.Fatal(err)
			}
			if err := s.Save("j", makeCheckpoint(7, tt.nParams, tt.nState)); err != nil {
				t.Fatal(err)
			}
			orig := storedValue(t, path, "j", 7)
			positions := make([]int, 0, len(orig))
			if tt.samples == 0 {
				for i := range orig {
					positions = append(positions, i)
				}
			} else {
				rng := rand.New(rand.NewPCG(1, 2))
				h, bodyOff, err := decodeHeader(orig)
				if err != nil {
					t.Fatal(err)
				}
				paramsEnd := bodyOff + 4*int(h.nParams)
				// Every region: prefix, header, header CRC, params, the
				// other vectors, trailing CRC; then random ones.
				positions = append(positions, 0, 5, 9, prefixLen, bodyOff-crcLen-1, bodyOff-1,
					bodyOff, paramsEnd-1, paramsEnd, len(orig)-crcLen-1, len(orig)-1)
				for len(positions) < tt.samples {
					positions = append(positions, rng.IntN(len(orig)))
				}
			}
			// One flip per position, cycling through single-bit and
			// whole-byte masks.
			masks := []byte{0xff, 0x01, 0x80, 0x10}
			for i, p := range positions {
				mask := masks[i%len(masks)]
				corruptStored(t, path, "j", 7, func(b []byte) { copy(b, orig); b[p] ^= mask })
				if _, err := s.At("j", 7); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("byte %d ^ %#x: At gave %v, want ErrCorrupt", p, mask, err)
				}
			}
			// Restored, it loads again: the test's own writes were sound.
			corruptStored(t, path, "j", 7, func(b []byte) { copy(b, orig) })
			if _, err := s.At("j", 7); err != nil {
				t.Fatalf("restored value: %v", err)
			}
		})
	}
}

func TestDecodeRejectsEveryTruncation(t *testing.T) {
	raw, err := encodeCheckpoint(makeCheckpoint(3, 5, 1))
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(raw) {
		if _, err := decodeCheckpoint(raw[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("value cut to %d of %d bytes: %v, want ErrCorrupt", n, len(raw), err)
		}
	}
	if _, err := decodeCheckpoint(append(raw, 0)); !errors.Is(err, ErrCorrupt) {
		t.Fatal("a trailing byte went unnoticed")
	}
}

// TestDecodeDetectsEveryBitFlip is the in-memory complement of the bbolt
// test above: every bit and every whole byte of a small value.
func TestDecodeDetectsEveryBitFlip(t *testing.T) {
	raw, err := encodeCheckpoint(makeCheckpoint(9, 6, 2))
	if err != nil {
		t.Fatal(err)
	}
	for p := range raw {
		for _, mask := range []byte{1, 2, 4, 8, 16, 32, 64, 128, 0xff} {
			raw[p] ^= mask
			if _, err := decodeCheckpoint(raw); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("byte %d ^ %#x: %v, want ErrCorrupt", p, mask, err)
			}
			if info := infoOf(9, raw); !errors.Is(info.Err, ErrCorrupt) {
				t.Fatalf("byte %d ^ %#x: List would say %v", p, mask, info.Err)
			}
			raw[p] ^= mask
		}
	}
	if _, err := decodeCheckpoint(raw); err != nil {
		t.Fatalf("restored value: %v", err)
	}
}
