package eval

import (
	"reflect"
	"strings"
	"testing"

	"github.com/fsl-project/fsl/episodes"
	"github.com/fsl-project/fsl/params"
)

// glyphsTest is the held-out split of a small synthetic dataset: 2
// alphabets × 5 characters × 6 drawings at 16×16.
func glyphsTest(t *testing.T) *episodes.Dataset {
	t.Helper()
	ds, err := episodes.Open("glyphs:seed=3,alphabets=5,chars=5,drawers=6", episodes.Options{Size: testSide, Split: episodes.SplitTest})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func TestEpisodesSameSeedSameEpisodesAndNumbers(t *testing.T) {
	ds := glyphsTest(t)
	net := testNet(t, testSide, params.KindEpisode, 1)
	pairs := testNet(t, testSide, params.KindPairs, 1)
	tests := []struct {
		name string
		net  Net
		cfg  EpisodeConfig
	}{
		{"5-way 1-shot prototype", net, EpisodeConfig{Way: 5, Shot: 1, Query: 2, Episodes: 12, Seed: 1}},
		{"3-way 2-shot neighbour", net, EpisodeConfig{Way: 3, Shot: 2, Query: 3, Episodes: 10, Seed: 9, Classifier: NearestNeighbour}},
		{"2-way 1-shot siamese", pairs, EpisodeConfig{Way: 2, Shot: 1, Query: 1, Episodes: 8, Seed: 4, Classifier: SiameseHead}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var last, total int
			a, err := Episodes(tc.net, ds, tc.cfg, func(d, n int) { last, total = d, n })
			if err != nil {
				t.Fatal(err)
			}
			b, err := Episodes(tc.net, ds, tc.cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			if a != b {
				t.Errorf("same seed, two reports:\n%+v\n%+v", a, b)
			}
			if a.Episodes != tc.cfg.Episodes || a.Mean < 0 || a.Mean > 1 || a.Seed != tc.cfg.Seed || a.Fingerprint != ds.Fingerprint() ||
				!strings.Contains(a.Protocol, "random episodes") || last != total || total == 0 {
				t.Errorf("report %+v, progress %d/%d", a, last, total)
			}
			es, err := episodes.NewEvalSampler(ds, tc.cfg.Way, tc.cfg.Shot, tc.cfg.Query)
			if err != nil {
				t.Fatal(err)
			}
			differs := false
			for i := 0; i < tc.cfg.Episodes; i++ {
				r1, l1 := es.EpisodeRefs(tc.cfg.Seed, i)
				r2, l2 := es.EpisodeRefs(tc.cfg.Seed, i)
				if !reflect.DeepEqual(r1, r2) || !reflect.DeepEqual(l1, l2) {
					t.Fatalf("episode %d of seed %d drawn twice differs", i, tc.cfg.Seed)
				}
				r3, _ := es.EpisodeRefs(tc.cfg.Seed+1, i)
				differs = differs || !reflect.DeepEqual(r1, r3)
			}
			if !differs {
				t.Errorf("seeds %d and %d draw the same %d episodes", tc.cfg.Seed, tc.cfg.Seed+1, tc.cfg.Episodes)
			}
		})
	}
}

func TestEpisodesRefusesImpossibleSettings(t *testing.T) {
	ds := glyphsTest(t)
	net := testNet(t, testSide, params.KindEpisode, 1)
	tests := []struct {
		name string
		cfg  EpisodeConfig
		msg  string
	}{
		{"more ways than classes", EpisodeConfig{Way: 11, Episodes: 2}, "11-way"},
		{"more images than a class has", EpisodeConfig{Way: 2, Shot: 5, Query: 5, Episodes: 2}, "2-way 5-shot"},
		{"siamese classifier without a head", EpisodeConfig{Classifier: SiameseHead, Episodes: 2}, "siamese"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Episodes(net, ds, tc.cfg, nil); err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %v, want one saying %q", err, tc.msg)
			}
		})
	}
}
