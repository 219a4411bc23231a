package eval

import (
	"testing"

	"github.com/fsl-project/fsl/episodes"
	"github.com/fsl-project/fsl/model"
	"github.com/fsl-project/fsl/params"
)

// TestPlanShardedEqualsEpisodes: a plan's shards embedded one by one (as
// workers do, each by a model of its own) and finished in shard order give
// exactly Episodes' report, for each classifier; and Finish refuses shards
// of the wrong number or size.
func TestPlanShardedEqualsEpisodes(t *testing.T) {
	ds := glyphsTest(t)
	big, err := episodes.Open("glyphs:seed=3,alphabets=20,chars=10,drawers=6", episodes.Options{Size: testSide, Split: episodes.SplitTest})
	if err != nil {
		t.Fatal(err)
	}
	net := testNet(t, testSide, params.KindEpisode, 1)
	pairs := testNet(t, testSide, params.KindPairs, 1)
	colour, err := episodes.Open("glyphs:seed=3,alphabets=10,chars=4,drawers=6", episodes.Options{Size: testSide, Channels: params.RGB, Split: episodes.SplitTest})
	if err != nil {
		t.Fatal(err)
	}
	rgb := colourNet(t, testSide, params.KindEpisode, 1)
	for _, tc := range []struct {
		name   string
		net    Net
		ds     *episodes.Dataset
		cfg    EpisodeConfig
		shards int // at least
	}{
		{"5-way 1-shot prototype, several shards", net, big, EpisodeConfig{Way: 5, Shot: 1, Query: 3, Episodes: 60, Seed: 1}, 2},
		{"3-way 2-shot neighbour", net, ds, EpisodeConfig{Way: 3, Shot: 2, Query: 3, Episodes: 10, Seed: 9, Classifier: NearestNeighbour}, 1},
		{"2-way 1-shot siamese", pairs, ds, EpisodeConfig{Way: 2, Shot: 1, Query: 1, Episodes: 8, Seed: 4, Classifier: SiameseHead}, 1},
		{"5-way 1-shot prototype on RGB glyphs", rgb, colour, EpisodeConfig{Way: 5, Shot: 1, Query: 3, Episodes: 20, Seed: 2}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := Episodes(tc.net, tc.ds, tc.cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			pl, err := NewPlan(tc.net, tc.ds, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if pl.Shards() < tc.shards {
				t.Fatalf("%d shards, want at least %d", pl.Shards(), tc.shards)
			}
			// Another model of the same config: a worker's.
			w, err := model.New(tc.net.Model.Config())
			if err != nil {
				t.Fatal(err)
			}
			shards := make([][]float32, pl.Shards())
			for k := range shards {
				b := pl.Batch(k)
				if b.Kind != params.KindEmbed || b.Images() != pl.ShardImages(k) || b.CheckShape() != nil || b.Planes() != tc.ds.Channels {
					t.Fatalf("shard %d: kind %v, %d images of %d channels, want embed, %d of %d", k, b.Kind, b.Images(), b.Planes(), pl.ShardImages(k), tc.ds.Channels)
				}
				if shards[k], err = w.Embed(tc.net.Params, tc.net.State, b.Pixels, b.Images()); err != nil {
					t.Fatal(err)
				}
			}
			got, err := pl.Finish(shards)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("sharded %+v, Episodes %+v", got, want)
			}
			t.Logf("%d shards: %.4f ± %.4f", len(shards), got.Mean, got.CI95)
			if _, err := pl.Finish(shards[:len(shards)-1]); err == nil {
				t.Error("Finish took one shard too few")
			}
			short := append([][]float32(nil), shards...)
			short[0] = short[0][:len(short[0])-1]
			if _, err := pl.Finish(short); err == nil {
				t.Error("Finish took a shard one value short")
			}
		})
	}
}

// TestWorkIsItsPlansInOrder: two protocols' shards one after another, each
// protocol's figures those of Episodes, named by MetricName.
func TestWorkIsItsPlansInOrder(t *testing.T) {
	ds := glyphsTest(t)
	net := testNet(t, testSide, params.KindEpisode, 1)
	cfgs := []EpisodeConfig{{Way: 5, Shot: 1, Query: 2, Episodes: 12, Seed: 1}, {Way: 3, Shot: 2, Query: 2, Episodes: 9, Seed: 1}}
	w, err := NewWork(net, ds, cfgs)
	if err != nil {
		t.Fatal(err)
	}
	results := make([]params.Result, w.Shards())
	for k := range results {
		b := w.Batch(k)
		if results[k].Grads, err = net.Model.Embed(net.Params, net.State, b.Pixels, b.Images()); err != nil {
			t.Fatal(err)
		}
		if len(results[k].Grads) != w.Len(k) {
			t.Fatalf("shard %d: %d values, Len says %d", k, len(results[k].Grads), w.Len(k))
		}
	}
	m, err := w.Finish(results)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cfgs {
		r, err := Episodes(net, ds, c, nil)
		if err != nil {
			t.Fatal(err)
		}
		name := MetricName(c.Way, c.Shot)
		ci := name[:len(name)-len("_acc")] + "_ci95"
		if m[name] != r.Mean || m[ci] != r.CI95 {
			t.Errorf("%s: work %v / %v, Episodes %v / %v", name, m[name], m[ci], r.Mean, r.CI95)
		}
	}
	if _, err := w.Finish(results[1:]); err == nil {
		t.Error("Finish took too few results")
	}
}
