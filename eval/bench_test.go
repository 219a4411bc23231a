package eval

import (
	"path/filepath"
	"testing"

	"github.com/fsl-project/fsl/episodes"
	"github.com/fsl-project/fsl/params"
)

// BenchmarkEvalOmniglot5Way1Shot is one evaluation of an initialised Conv-4
// (28×28) over Omniglot's 659 evaluation characters: 1,000 5-way 1-shot
// episodes with 15 queries per class. Loading the zip is not timed. Run
// with -benchtime=1x: one iteration is the whole evaluation.
func BenchmarkEvalOmniglot5Way1Shot(b *testing.B) {
	dir := filepath.Dir(omniglotFile(b, "images_evaluation.zip"))
	ds, err := episodes.Open(dir, episodes.Options{Size: 28, Split: episodes.SplitTest})
	if err != nil {
		b.Fatal(err)
	}
	if len(ds.Classes) != 659 {
		b.Fatalf("%d evaluation classes, want 659", len(ds.Classes))
	}
	net := testNet(b, 28, params.KindEpisode, 1)
	cfg := EpisodeConfig{Way: 5, Shot: 1, Query: 15, Episodes: 1000, Seed: 1}
	b.ResetTimer()
	var r Report
	for i := 0; i < b.N; i++ {
		if r, err = Episodes(net, ds, cfg, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(100*r.Mean, "acc%")
	b.Logf("%s", r)
}

// BenchmarkOfficialRuns is one pass over the 20 official runs (800 images)
// with an initialised Conv-4 at 28×28; loading all_runs.zip is not timed.
func BenchmarkOfficialRuns(b *testing.B) {
	runs, err := LoadOfficialRuns(omniglotFile(b, "all_runs.zip"), 28)
	if err != nil {
		b.Fatal(err)
	}
	net := testNet(b, 28, params.KindEpisode, 1)
	b.ResetTimer()
	var r RunsReport
	for i := 0; i < b.N; i++ {
		if r, err = Runs(net, runs, NearestNeighbour, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(100*r.Mean, "acc%")
}

// BenchmarkLoadOfficialRuns reads and decodes all_runs.zip at 28×28.
func BenchmarkLoadOfficialRuns(b *testing.B) {
	file := omniglotFile(b, "all_runs.zip")
	for i := 0; i < b.N; i++ {
		if _, err := LoadOfficialRuns(file, 28); err != nil {
			b.Fatal(err)
		}
	}
}
