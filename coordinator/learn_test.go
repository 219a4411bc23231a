package coordinator_test

import (
	"context"
	"testing"

	"github.com/fsl-project/fsl/coordinator"
	"github.com/fsl-project/fsl/episodes"
	"github.com/fsl-project/fsl/eval"
	"github.com/fsl-project/fsl/model"
)

// rawPixelAccuracy is 1-nearest-neighbour on raw pixels (squared L2) over
// the same episodes eval.Episodes draws for cfg: the baseline a learned
// embedding must beat.
func rawPixelAccuracy(t *testing.T, ds *episodes.Dataset, cfg eval.EpisodeConfig) float64 {
	t.Helper()
	es, err := episodes.NewEvalSampler(ds, cfg.Way, cfg.Shot, cfg.Query)
	if err != nil {
		t.Fatal(err)
	}
	var acc []float64
	for i := 0; i < cfg.Episodes; i++ {
		b := es.Episode(cfg.Seed, i)
		support := cfg.Way * cfg.Shot
		correct := 0
		for q := support; q < b.Images(); q++ {
			best, bestLabel := -1.0, int32(-1)
			for s := 0; s < support; s++ {
				var d float64
				for k, x := range b.Image(q) {
					diff := float64(x) - float64(b.Image(s)[k])
					d += diff * diff
				}
				if best < 0 || d < best {
					best, bestLabel = d, b.Labels[s]
				}
			}
			if bestLabel == b.Labels[q] {
				correct++
			}
		}
		acc = append(acc, float64(correct)/float64(b.Images()-support))
	}
	return eval.Summarize(acc).Mean
}

// TestTrainedEmbeddingBeatsRawPixelsOnGlyphs is the short learning check of
// the model (here, not in eval, whose test binary then links no NATS: its
// fuzz target stays fast): a Conv-4 trained for well under a minute on one core on the
// synthetic glyphs' training alphabets must beat raw-pixel nearest
// neighbour by at least 15 points, 5-way 1-shot, on alphabets it never saw.
func TestTrainedEmbeddingBeatsRawPixelsOnGlyphs(t *testing.T) {
	if raceEnabled || testing.Short() {
		t.Skip("trains a network for ~30 s: skipped under -race and -short (.ci/run runs it without -race)")
	}
	spec := coordinator.JobSpec{Steps: 200, Seed: 3}.WithDefaults()
	train, err := episodes.Open(spec.Dataset, spec.DatasetOptions())
	if err != nil {
		t.Fatal(err)
	}
	test, err := episodes.Open(spec.Dataset, episodes.Options{Split: episodes.SplitTest})
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(spec.ModelConfig())
	if err != nil {
		t.Fatal(err)
	}
	tr, err := coordinator.RunLocal(context.Background(), spec, train, m.Grad, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := eval.EpisodeConfig{Way: 5, Shot: 1, Query: 15, Episodes: 300, Seed: 11}
	learned, err := eval.Episodes(eval.Net{Model: m, Params: tr.Params, State: tr.State}, test, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw := rawPixelAccuracy(t, test, cfg)
	t.Logf("held-out glyph alphabets, 5-way 1-shot, %d episodes: trained Conv-4 %.1f%% ± %.1f%%, raw pixels %.1f%% (final loss %.3f)",
		cfg.Episodes, 100*learned.Mean, 100*learned.CI95, 100*raw, tr.LastLoss)
	if learned.Mean < raw+0.15 {
		t.Fatalf("trained embedding %.1f%% does not beat raw pixels %.1f%% by 15 points", 100*learned.Mean, 100*raw)
	}
}
