package eval

import (
	"strings"
	"testing"

	"github.com/fsl-project/fsl/model"
	"github.com/fsl-project/fsl/params"
)

func TestParseClassifierAcceptsNamesAndAliases(t *testing.T) {
	tests := []struct {
		in   string
		want Classifier
		ok   bool
	}{
		{"", NearestPrototype, true},
		{"prototype", NearestPrototype, true},
		{"neighbour", NearestNeighbour, true},
		{"neighbor", NearestNeighbour, true},
		{"nn", NearestNeighbour, true},
		{"siamese", SiameseHead, true},
		{"matching", Attention, true},
		{"attention", Attention, true},
		{"cosine", "", false},
		{"Prototype", "", false},
	}
	for _, tc := range tests {
		got, err := ParseClassifier(tc.in)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("ParseClassifier(%q) = %q, %v; want %q, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), tc.in) {
			t.Errorf("error %q does not name %q", err, tc.in)
		}
	}
}

// On one axis: class 0 has support at 0 and 10 (prototype 5), class 1 a
// single support at 3.5. A query at 1 is nearest to class 0's support at 0
// (distance 1) but to class 1's prototype (2.5 against 4): the two
// classifiers disagree, by construction.
func TestClassifiersDisagreeOnAConstructedCase(t *testing.T) {
	ee := episodeEmbeddings{support: [][]float32{{0, 10}, {3.5}}, dim: 1}
	// A head that calls a pair alike the closer their values are to 3.
	towardThree := func(e1, e2 []float32) float32 {
		d := func(x float32) float32 {
			if x < 3 {
				return 3 - x
			}
			return x - 3
		}
		return -d(e1[0]) - d(e2[0])
	}
	tests := []struct {
		name  string
		c     Classifier
		query float32
		score ScoreFunc
		want  int
	}{
		{"neighbour picks the closest support", NearestNeighbour, 1, nil, 0},
		{"prototype picks the closest mean", NearestPrototype, 1, nil, 1},
		{"prototype far right", NearestPrototype, 9, nil, 0},
		{"neighbour far right", NearestNeighbour, 9, nil, 0},
		{"neighbour between supports", NearestNeighbour, 2, nil, 1},
		{"siamese follows the head, not distance", SiameseHead, 9, towardThree, 1},
		{"siamese head prefers support 0 over 10 too", SiameseHead, 0, func(e1, e2 []float32) float32 { return -e1[0] }, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ee.predict(tc.c, []float32{tc.query}, tc.score); got != tc.want {
				t.Errorf("%s(%v) = class %d, want %d", tc.c, tc.query, got, tc.want)
			}
		})
	}
}

func TestPredictOnTwoDimensions(t *testing.T) {
	// Prototypes (1, 0) and (0, 1) in 2-d, two shots each.
	ee := episodeEmbeddings{support: [][]float32{{2, 0, 0, 0}, {0, 0, 0, 2}}, dim: 2}
	for _, tc := range []struct {
		q    []float32
		want int
	}{{[]float32{0.9, 0.1}, 0}, {[]float32{0.1, 0.9}, 1}, {[]float32{1.6, 0}, 0}} {
		if got := ee.predict(NearestPrototype, tc.q, nil); got != tc.want {
			t.Errorf("prototype(%v) = %d, want %d", tc.q, got, tc.want)
		}
	}
	// Nearest support of (0.1, 0.2) is (0, 0), which both classes hold:
	// the tie goes to the first class.
	if got := ee.predict(NearestNeighbour, []float32{0.1, 0.2}, nil); got != 0 {
		t.Errorf("neighbour tie = %d, want 0", got)
	}
}

// In 2-d, query (1, 0): class 0's supports (8, 6) and (8, −6) are far but
// at cosine 0.8 each (attention mass 2e^0.8 ≈ 4.45); class 1's (1.1, 0)
// and (−0.1, 0) are close, at cosines 1 and −1 (e + 1/e ≈ 3.09). Distance
// picks class 1, attention class 0; the query's length does not matter to
// attention, and (−1, 0) turns it to class 1 (2e^−0.8 ≈ 0.90 against 3.09).
// At temperature 0.1 (scale 10) the nearest cosine dominates the sum:
// 2e^8 ≈ 5,962 against e^10 ≈ 22,026, and (1, 0) goes to class 1.
func TestAttentionWeighsCosinesOverTheSupportSet(t *testing.T) {
	for _, tc := range []struct {
		c     Classifier
		scale float64
		q     []float32
		want  int
	}{
		{NearestNeighbour, 1, []float32{1, 0}, 1},
		{NearestPrototype, 1, []float32{1, 0}, 1},
		{Attention, 1, []float32{1, 0}, 0},
		{Attention, 1, []float32{100, 0}, 0},
		{Attention, 1, []float32{-1, 0}, 1},
		{Attention, 1, []float32{0, 0}, 0}, // cosine 0 with all: a tie, to the first class
		{Attention, 10, []float32{1, 0}, 1},
		{Attention, 10, []float32{-1, 0}, 1},
		{Attention, 0.5, []float32{1, 0}, 0},
	} {
		ee := episodeEmbeddings{support: [][]float32{{8, 6, 8, -6}, {1.1, 0, -0.1, 0}}, dim: 2, scale: tc.scale}
		if got := ee.predict(tc.c, tc.q, nil); got != tc.want {
			t.Errorf("%s at scale %v (%v) = class %d, want %d", tc.c, tc.scale, tc.q, got, tc.want)
		}
	}
}

func TestDefaultClassifierFollowsTheLoss(t *testing.T) {
	for _, tc := range []struct {
		cfg  model.Config
		want Classifier
	}{
		{model.Config{Loss: params.KindEpisode}, NearestPrototype},
		{model.Config{Loss: params.KindEpisode, Matching: true}, Attention},
		{model.Config{Loss: params.KindClasses}, NearestPrototype},
		{model.Config{Loss: params.KindPairs}, NearestPrototype},
	} {
		if got := DefaultClassifier(tc.cfg); got != tc.want {
			t.Errorf("DefaultClassifier(%+v) = %s, want %s", tc.cfg, got, tc.want)
		}
	}
}
