package model

import (
	"math/rand/v2"
	"testing"

	"github.com/fsl-project/fsl/params"
)

// synthBatch builds a valid batch of kind k with random pixels: triplets
// and pairs take n examples, episodes are way-way shot-shot query-query
// with n ignored.
func synthBatch(k params.Kind, size, n int, seed uint64) *params.Batch {
	rng := rand.New(rand.NewPCG(seed, 1))
	b := &params.Batch{Kind: k, Size: size}
	switch k {
	case params.KindTriplets:
		for t := 0; t < n; t++ {
			c := int32(2 * t)
			b.Labels = append(b.Labels, c, c, c+1)
		}
	case params.KindPairs:
		for i := 0; i < n; i++ {
			c := int32(2 * i)
			if i%2 == 0 {
				b.Labels = append(b.Labels, c, c)
				b.Same = append(b.Same, 1)
			} else {
				b.Labels = append(b.Labels, c, c+1)
				b.Same = append(b.Same, 0)
			}
		}
	}
	b.Pixels = make([]uint8, len(b.Labels)*size*size)
	for i := range b.Pixels {
		b.Pixels[i] = uint8(rng.IntN(256))
	}
	return b
}

// synthEpisode builds a way-way shot-shot episode with query queries per
// class and random pixels.
func synthEpisode(size, way, shot, query int, seed uint64) *params.Batch {
	rng := rand.New(rand.NewPCG(seed, 2))
	b := &params.Batch{Kind: params.KindEpisode, Size: size, Way: way, Shot: shot, Query: query}
	for c := 0; c < way; c++ {
		for s := 0; s < shot; s++ {
			b.Labels = append(b.Labels, int32(c))
		}
	}
	for c := 0; c < way; c++ {
		for q := 0; q < query; q++ {
			b.Labels = append(b.Labels, int32(c))
		}
	}
	b.Pixels = make([]uint8, len(b.Labels)*size*size)
	for i := range b.Pixels {
		b.Pixels[i] = uint8(rng.IntN(256))
	}
	return b
}

// synthClasses builds a params.KindClasses batch of p classes × k images
// (class labels 5, 10, 15, …) with random pixels.
func synthClasses(size, p, k int, seed uint64) *params.Batch {
	rng := rand.New(rand.NewPCG(seed, 4))
	b := &params.Batch{Kind: params.KindClasses, Size: size}
	for c := 0; c < p; c++ {
		for i := 0; i < k; i++ {
			b.Labels = append(b.Labels, int32(5*(c+1)))
		}
	}
	b.Pixels = make([]uint8, len(b.Labels)*size*size)
	for i := range b.Pixels {
		b.Pixels[i] = uint8(rng.IntN(256))
	}
	return b
}

// inColour returns b with c colour planes per image (params.Batch's
// planar layout) of fresh random pixels, its structure unchanged.
func inColour(b *params.Batch, c int, seed uint64) *params.Batch {
	rng := rand.New(rand.NewPCG(seed, 5))
	out := *b
	out.Channels = c
	out.Pixels = make([]uint8, len(b.Labels)*c*b.Size*b.Size)
	for i := range out.Pixels {
		out.Pixels[i] = uint8(rng.IntN(256))
	}
	return &out
}

func mustNew(t testing.TB, cfg Config, opts ...Option) *Model {
	t.Helper()
	m, err := New(cfg, opts...)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return m
}

func toF32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, e := range v {
		out[i] = float32(e)
	}
	return out
}
