package model

import (
	"errors"
	"math"
	"testing"

	"github.com/fsl-project/fsl/params"
)

// TestSGDStepsReduceEachLoss overfits one small batch per loss with plain
// SGD and running statistics merged as the coordinator would: the loss
// must fall, and Embed with the merged statistics must stay finite.
func TestSGDStepsReduceEachLoss(t *testing.T) {
	cases := []struct {
		cfg   Config
		batch *params.Batch
		lr    float32
	}{
		{Config{Loss: params.KindTriplets, Size: 16, Filters: 8}, synthBatch(params.KindTriplets, 16, 6, 3), 0.01},
		{Config{Loss: params.KindPairs, Size: 16, Filters: 8}, synthBatch(params.KindPairs, 16, 8, 3), 0.1},
		{Config{Loss: params.KindEpisode, Size: 16, Filters: 8}, synthEpisode(16, 4, 2, 2, 3), 0.02},
		{Config{Loss: params.KindEpisode, Matching: true, Size: 16, Filters: 8}, synthEpisode(16, 4, 2, 2, 3), 0.5},
		{Config{Loss: params.KindClasses, Mining: MiningBatchHard, Size: 16, Filters: 8}, synthClasses(16, 4, 3, 3), 0.005},
		{Config{Loss: params.KindClasses, Mining: MiningSemiHard, Size: 16, Filters: 8}, synthClasses(16, 4, 3, 3), 0.005},
	}
	for _, tc := range cases {
		name := tc.cfg.Loss.String()
		switch {
		case tc.cfg.Matching:
			name = "matching"
		case tc.cfg.Mining != 0:
			name = tc.cfg.Mining.String()
		}
		t.Run(name, func(t *testing.T) {
			m := mustNew(t, tc.cfg)
			p, s := m.Init(3)
			var first, last float64
			for step := 0; step < 15; step++ {
				r, err := m.Grad(p, s, tc.batch)
				if err != nil {
					t.Fatal(err)
				}
				if step == 0 {
					first = r.Loss
				}
				last = r.Loss
				for i, g := range r.Grads {
					p[i] -= tc.lr * g
				}
				if err := params.EMA(s, r.Stats, DefaultMomentum); err != nil {
					t.Fatal(err)
				}
			}
			if !(last < 0.7*first) {
				t.Fatalf("loss %v after 15 steps, started at %v; want a clear decrease", last, first)
			}
			e, err := m.Embed(p, s, tc.batch.Pixels, tc.batch.Images())
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range e {
				if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
					t.Fatal("non-finite embedding after training")
				}
			}
			t.Logf("loss %.4f → %.4f", first, last)
		})
	}
}

// FuzzGradBatch feeds Grad arbitrary batch structure, as a worker could
// receive it from the network: it must return an error or a finite loss,
// never panic.
func FuzzGradBatch(f *testing.F) {
	f.Add(uint8(params.KindTriplets), uint8(16), []byte{0, 0, 1, 2, 2, 3}, []byte{}, uint8(0), uint8(0), uint8(0))
	f.Add(uint8(params.KindPairs), uint8(16), []byte{0, 0, 1, 2}, []byte{1, 0}, uint8(0), uint8(0), uint8(0))
	f.Add(uint8(params.KindEpisode), uint8(16), []byte{0, 1, 0, 1}, []byte{}, uint8(2), uint8(1), uint8(1))
	f.Add(uint8(params.KindEpisode), uint8(17), []byte{0, 1, 0, 1}, []byte{}, uint8(2), uint8(1), uint8(1))
	f.Add(uint8(params.KindClasses), uint8(16), []byte{3, 3, 5, 5}, []byte{}, uint8(0), uint8(0), uint8(0))
	f.Add(uint8(params.KindClasses), uint8(16), []byte{3, 3, 5, 3}, []byte{}, uint8(0), uint8(0), uint8(0))
	models := map[params.Kind]*Model{}
	for _, k := range []params.Kind{params.KindTriplets, params.KindPairs, params.KindEpisode, params.KindClasses} {
		m, err := New(Config{Loss: k, Size: 16, Filters: 2})
		if err != nil {
			f.Fatal(err)
		}
		models[k] = m
	}
	f.Fuzz(func(t *testing.T, kind, size uint8, labels, same []byte, way, shot, query uint8) {
		if len(labels) > 24 {
			labels = labels[:24] // keep graphs small
		}
		b := &params.Batch{Kind: params.Kind(kind % 5), Size: int(size), Way: int(way), Shot: int(shot), Query: int(query), Same: same}
		for _, l := range labels {
			b.Labels = append(b.Labels, int32(l%8)-1)
		}
		if b.Size <= 32 {
			b.Pixels = make([]uint8, len(b.Labels)*b.Size*b.Size)
			for i := range b.Pixels {
				b.Pixels[i] = uint8(i * 37)
			}
		}
		m := models[params.KindTriplets]
		if mk, ok := models[b.Kind]; ok {
			m = mk
		}
		p, s := m.Init(1)
		r, err := m.Grad(p, s, b)
		if err != nil {
			if !errors.Is(err, ErrBatch) {
				t.Fatalf("error %v, want ErrBatch", err)
			}
			return
		}
		if math.IsNaN(r.Loss) || math.IsInf(r.Loss, 0) || r.Loss < 0 {
			t.Fatalf("loss %v", r.Loss)
		}
	})
}
