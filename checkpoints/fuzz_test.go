package checkpoints

import (
	"bytes"
	"math"
	"testing"
	"time"

	"github.com/fsl-project/fsl/params"
)

func fuzzSeeds() [][]byte {
	var seeds [][]byte
	for _, c := range []*Checkpoint{
		makeCheckpoint(3, 4, 2),
		{Step: 0, Created: time.Unix(0, 1)},
		{Step: math.MaxUint64, Params: params.Vector{float32(math.NaN()), float32(math.Inf(-1))},
			Metrics: map[string]float64{"val_acc": math.NaN()}, Created: time.Unix(-5, 0)},
	} {
		raw, err := encodeCheckpoint(c)
		if err != nil {
			panic(err)
		}
		seeds = append(seeds, raw, raw[:len(raw)/2])
	}
	return seeds
}

// FuzzDecodeCheckpoint: decoding arbitrary bytes never panics, and whatever
// decodes re-encodes to exactly the same bytes (the format is canonical).
func FuzzDecodeCheckpoint(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		info := infoOf(1, data)
		c, err := decodeCheckpoint(data)
		if err != nil {
			return
		}
		if info.Err != nil && c.Step == 1 {
			t.Fatalf("decoded, but infoOf says %v", info.Err)
		}
		again, err := encodeCheckpoint(c)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("re-encoding differs: %d vs %d bytes", len(again), len(data))
		}
	})
}

// FuzzImport: parsing arbitrary bytes as an export never panics, reads no
// more than it was given, and an accepted export's checkpoint is canonical.
func FuzzImport(f *testing.F) {
	for _, s := range fuzzSeeds() {
		var buf bytes.Buffer
		rec, _ := encodeJob(testJob("j", 4))
		if err := writeExport(&buf, rec, s); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
		f.Add(buf.Bytes()[:buf.Len()-3])
	}
	f.Add([]byte(exportMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, raw, c, err := readExport(bytes.NewReader(data))
		if err != nil {
			return
		}
		if validateRecord(rec) != nil {
			t.Fatalf("accepted an invalid job record %+v", rec)
		}
		if len(raw) > len(data) {
			t.Fatalf("value of %d bytes from %d input bytes", len(raw), len(data))
		}
		again, err := encodeCheckpoint(c)
		if err != nil || !bytes.Equal(again, raw) {
			t.Fatalf("accepted checkpoint does not re-encode to itself: %v", err)
		}
	})
}
