package episodes

import (
	"testing"
)

func TestGlyphsAreDeterministicAndSeeded(t *testing.T) {
	cfg := GlyphsConfig{Seed: 3, Alphabets: 3, Characters: 4, Drawers: 5}
	a, err := Glyphs(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Glyphs(cfg)
	cfg.Seed = 4
	c, _ := Glyphs(cfg)
	if a.Fingerprint() != b.Fingerprint() {
		t.Error("same config, different datasets")
	}
	if a.Fingerprint() == c.Fingerprint() {
		t.Error("different seeds, same dataset")
	}
	if len(a.Classes) != 12 || a.NumImages() != 60 || a.Classes[0].Set != "background" || a.Classes[11].Set != "evaluation" {
		t.Errorf("shape: %d classes, %d images, sets %q..%q", len(a.Classes), a.NumImages(), a.Classes[0].Set, a.Classes[11].Set)
	}
	for i := 0; i < a.NumImages(); i++ {
		lit := 0
		for _, v := range a.Image(i) {
			if v > 128 {
				lit++
			}
		}
		if lit < 10 || lit > 28*28/2 {
			t.Fatalf("%s: %d bright pixels, want strokes on a dark background", a.Source(i), lit)
		}
	}
}

func TestGlyphsDefaultShape(t *testing.T) {
	ds, err := Open("glyphs", Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Speed is BenchmarkGlyphs' business: a timed unit test only flakes on
	// a shared machine.
	if len(ds.Classes) != 400 || ds.NumImages() != 8000 {
		t.Fatalf("%d classes %d images, want 400 and 8000", len(ds.Classes), ds.NumImages())
	}
}

// nnAccuracy is the 5-way 1-shot accuracy of nearest neighbour under feat
// over the evaluation glyph alphabets, on 400 evaluation episodes.
func nnAccuracy(t *testing.T, ds *Dataset, feat func([]uint8) []float64) float64 {
	ev, err := NewEvalSampler(ds, 5, 1, 5)
	if err != nil {
		t.Fatal(err)
	}
	right, total := 0, 0
	for e := 0; e < 400; e++ {
		b := ev.Episode(1, e)
		sup := make([][]float64, 5)
		for w := range sup {
			sup[w] = feat(b.Image(w))
		}
		for q := 5; q < b.Images(); q++ {
			f := feat(b.Image(q))
			best, bestD := -1, 0.0
			for w, s := range sup {
				d := 0.0
				for i := range f {
					d += (f[i] - s[i]) * (f[i] - s[i])
				}
				if best < 0 || d < bestD {
					best, bestD = w, d
				}
			}
			if int32(best) == b.Labels[q] {
				right++
			}
			total++
		}
	}
	return float64(right) / float64(total)
}

// TestGlyphsRawPixelsAreMediocre: raw-pixel nearest neighbour must leave
// room for a learned embedding (the model's acceptance asks a Conv-4 to beat
// it by 15 points), yet be above chance (classes are distinct).
func TestGlyphsRawPixelsAreMediocre(t *testing.T) {
	ds, err := Open("glyphs", Options{Split: "test"})
	if err != nil {
		t.Fatal(err)
	}
	raw := nnAccuracy(t, ds, func(p []uint8) []float64 {
		f := make([]float64, len(p))
		for i, v := range p {
			f[i] = float64(v)
		}
		return f
	})
	t.Logf("raw-pixel NN, 5-way 1-shot, evaluation glyphs: %.3f", raw)
	if raw < 0.3 || raw > 0.75 {
		t.Errorf("raw-pixel NN accuracy %.3f, want between 0.30 (classes distinct) and 0.75 (room to learn)", raw)
	}
}
