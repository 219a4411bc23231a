package episodes

import (
	"testing"

	"github.com/fsl-project/fsl/params"
)

// BenchmarkGlyphs generates the default glyphs dataset (8,000 images).
func BenchmarkGlyphs(b *testing.B) {
	for b.Loop() {
		if _, err := Glyphs(GlyphsConfig{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBatch builds typical 60-image training batches on rotated glyphs.
func BenchmarkBatch(b *testing.B) {
	ds, err := Open("glyphs", Options{Rotations: true})
	if err != nil {
		b.Fatal(err)
	}
	for _, cfg := range []SamplerConfig{
		{Kind: params.KindEpisode, Way: 20, Shot: 1, Query: 2},
		{Kind: params.KindPairs, Pairs: 30},
		{Kind: params.KindTriplets, Triplets: 20},
	} {
		b.Run(cfg.Kind.String(), func(b *testing.B) {
			s, err := NewSampler(ds, cfg)
			if err != nil {
				b.Fatal(err)
			}
			step := 0
			for b.Loop() {
				s.Batch(1, step, 0)
				step++
			}
		})
	}
}
