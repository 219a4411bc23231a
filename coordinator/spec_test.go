package coordinator

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fsl-project/fsl/checkpoints"
	"github.com/fsl-project/fsl/model"
	"github.com/fsl-project/fsl/params"
)

func TestDecodeSpecReadsWhatEncodeSpecWrote(t *testing.T) {
	s := DefaultSpec()
	s.ID, s.Loss, s.Steps = "enc", "triplet", 77
	b, format, err := EncodeSpec(s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeSpec(checkpoints.JobRecord{ID: s.ID, Spec: b, SpecFormat: format})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Fatalf("decoded %+v, want %+v", got, s)
	}
	for _, rec := range []checkpoints.JobRecord{
		{ID: "y", Spec: []byte("loss: proto"), SpecFormat: "yaml"},
		{ID: "bad", Spec: []byte("{"), SpecFormat: "json"},
	} {
		if _, err := DecodeSpec(rec); err == nil || !strings.Contains(err.Error(), `"`+rec.ID+`"`) {
			t.Errorf("DecodeSpec(%s spec %q): %v, want an error naming the job", rec.SpecFormat, rec.Spec, err)
		}
	}
}

func TestCheckResumeNamesEachChangedField(t *testing.T) {
	base := DefaultSpec()
	tests := []struct {
		name   string
		change func(*JobSpec)
		want   []string // lines the error must hold; none: resuming is allowed
		absent []string // what it must not hold
	}{
		{"same spec", func(*JobSpec) {}, nil, nil},
		{"more steps only", func(s *JobSpec) { s.Steps = 5000 }, nil, nil},
		{"one flag", func(s *JobSpec) { s.Way = 5 }, []string{"  --way: 10 → 5"}, []string{"--shot", "{"}},
		{"flag named apart from its field", func(s *JobSpec) { s.Dataset = "/data/omniglot" },
			[]string{`  --data (dataset): "glyphs" → "/data/omniglot"`}, nil},
		{"nested field with a flag", func(s *JobSpec) { s.Optimizer.LR = 0.01 }, []string{"  --lr (optimizer.lr): 0.001 → 0.01"}, nil},
		{"nested field without a flag", func(s *JobSpec) { s.Optimizer.Momentum = 0.9 }, []string{"  optimizer.momentum: 0 → 0.9"}, nil},
		{"duration", func(s *JobSpec) { s.LeaseTimeout = Duration(time.Minute) }, []string{"  --lease-timeout: 30s → 1m0s"}, nil},
		{"triplet mining", func(s *JobSpec) { s.Triplet.Mining, s.Triplet.Images = "batch-hard", 8 },
			[]string{`  --mining (triplet.mining): "none" → "batch-hard"`, "  --images-per-class (triplet.images): 4 → 8"}, nil},
		{"two fields and steps", func(s *JobSpec) { s.Seed, s.Rotations, s.Steps = 2, true, 9 },
			[]string{"  --rotations: false → true", "  --seed: 1 → 2"}, []string{"steps"}},
		{"colour", func(s *JobSpec) { s.Channels = 3 }, []string{"  --channels: 1 → 3"}, nil},
		// as allow_mixed_classes: which workers a job admits is its own
		{"compute class", func(s *JobSpec) { s.ComputeClass = "0123456789ab" }, []string{`  --compute-class: "" → "0123456789ab"`}, nil},
		{"mixed classes", func(s *JobSpec) { s.AllowMixedClasses = true }, []string{"  allow_mixed_classes: false → true"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := base
			tc.change(&s)
			err := CheckResume("x.db", base, s)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("CheckResume: %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("CheckResume: nil, want an error naming the change")
			}
			msg := err.Error()
			lines := strings.Split(msg, "\n")
			if len(lines) != len(tc.want)+2 {
				t.Errorf("%d lines, want a header, one per change and a hint:\n%s", len(lines), msg)
			}
			for _, w := range tc.want {
				if !slices.Contains(lines, w) {
					t.Errorf("no line %q in:\n%s", w, msg)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(msg, a) {
					t.Errorf("%q in:\n%s", a, msg)
				}
			}
			for _, hint := range []string{`job "fsl" in x.db`, "--job fsl-2", "--db other.db"} {
				if !strings.Contains(msg, hint) {
					t.Errorf("no %q in:\n%s", hint, msg)
				}
			}
		})
	}
}

// TestCheckSplitsNamesALeakingTestLine: class-list splits whose test list
// holds a character of the training list are refused before anything
// starts, naming the test file's line.
func TestCheckSplitsNamesALeakingTestLine(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	train := write("train.txt", "A/character01/rot000\nA/character02/rot000\n")
	clean := write("clean.txt", "B/character01/rot000\n")
	leaky := write("leaky.txt", "B/character01/rot000\nA/character02/rot090\n")
	for _, tt := range []struct {
		name, test, has string
	}{
		{"disjoint", clean, ""},
		{"leaky", leaky, "leaky.txt:2: A/character02/rot090: character A/character02 is also in"},
		{"test split by name", "test", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := JobSpec{Split: train, TestSplit: tt.test}.WithDefaults()
			err := s.CheckSplits()
			if (err != nil) != (tt.has != "") || (err != nil && !strings.Contains(err.Error(), tt.has)) {
				t.Fatalf("CheckSplits = %v, want an error containing %q", err, tt.has)
			}
		})
	}
}

// TestLossesMapToBatchKindsAndModels: each loss name gives its batch
// kind, sampler and model config; mining is for the triplet loss only,
// with known names and shards of 2 or more classes of 2 or more images.
func TestLossesMapToBatchKindsAndModels(t *testing.T) {
	for _, tc := range []struct {
		loss, mining string
		temperature  float32
		kind         params.Kind
		model        model.Config
		images       int
	}{
		{"proto", "none", 0, params.KindEpisode, model.Config{Loss: params.KindEpisode}, 30},
		{"matching", "none", 0, params.KindEpisode, model.Config{Loss: params.KindEpisode, Matching: true}, 30},
		{"matching", "none", 0.1, params.KindEpisode, model.Config{Loss: params.KindEpisode, Matching: true, Temperature: 0.1}, 30},
		{"triplet", "none", 0, params.KindTriplets, model.Config{Loss: params.KindTriplets}, 60},
		{"triplet", "batch-hard", 0, params.KindClasses, model.Config{Loss: params.KindClasses, Mining: model.MiningBatchHard}, 64},
		{"triplet", "semi-hard", 0, params.KindClasses, model.Config{Loss: params.KindClasses, Mining: model.MiningSemiHard}, 64},
		{"siamese", "none", 0, params.KindPairs, model.Config{Loss: params.KindPairs}, 60},
	} {
		s := JobSpec{Loss: tc.loss, Triplet: TripletSpec{Mining: tc.mining}, Matching: MatchingSpec{Temperature: tc.temperature}}.WithDefaults()
		if err := s.Validate(); err != nil {
			t.Errorf("%s %s: %v", tc.loss, tc.mining, err)
			continue
		}
		k, err := s.Kind()
		mc := s.ModelConfig()
		mc.Size, mc.Margin = 0, 0
		if err != nil || k != tc.kind || mc != tc.model || s.SamplerConfig().Kind != k || s.SamplerConfig().Images() != tc.images {
			t.Errorf("%s %s: kind %s, %v, model %+v, sampler %+v; want %s, %+v, %d images",
				tc.loss, tc.mining, k, err, mc, s.SamplerConfig(), tc.kind, tc.model, tc.images)
		}
	}
	for _, tc := range []struct {
		change func(*JobSpec)
		want   string
	}{
		{func(s *JobSpec) { s.Triplet.Mining = "hard" }, `triplet.mining: mining "hard"`},
		{func(s *JobSpec) { s.Loss, s.Triplet.Mining = "proto", "batch-hard" }, "the proto loss mines nothing"},
		{func(s *JobSpec) { s.Triplet.Classes = 1 }, "triplet.classes 1"},
		{func(s *JobSpec) { s.Triplet.Images = 1 }, "triplet.images 1"},
		{func(s *JobSpec) { s.Loss = "matchin" }, "want proto, matching, triplet or siamese"},
		{func(s *JobSpec) { s.Matching.Temperature = 0.1 }, "matching.temperature 0.1: the triplet loss has no temperature"},
		{func(s *JobSpec) { s.Loss, s.Matching.Temperature = "matching", 0.001 }, "matching.temperature 0.001, want 0.02..100"},
		{func(s *JobSpec) { s.Loss, s.Matching.Temperature = "matching", -1 }, "matching.temperature -1, want"},
	} {
		s := JobSpec{Loss: "triplet"}.WithDefaults()
		tc.change(&s)
		if err := s.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v): %v, want an error with %q", s.Triplet, err, tc.want)
		}
	}
}

// TestValidateRefusesOneWayEpisodes: a 1-way episode (training or
// evaluation) has one class to choose, so every query is right; the
// triplet and siamese losses take no way, and theirs is left alone.
func TestValidateRefusesOneWayEpisodes(t *testing.T) {
	for _, tc := range []struct {
		loss    string
		way     int
		evalWay []int
		want    string // "" for valid
	}{
		{"proto", 1, nil, "way 1: a proto episode needs 2 classes or more"},
		{"matching", 1, nil, "way 1: a matching episode needs 2 classes or more"},
		{"proto", 2, nil, ""},
		{"triplet", 1, nil, ""},
		{"siamese", 1, nil, ""},
		{"proto", 5, []int{5, 1}, "eval.way [5 1], want each ≥ 2"},
		{"siamese", 5, []int{1}, "eval.way [1], want each ≥ 2"},
		{"triplet", 5, []int{2, 20}, ""},
	} {
		s := JobSpec{Loss: tc.loss, Way: tc.way, Eval: EvalSpec{Way: tc.evalWay}}.WithDefaults()
		err := s.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s, way %d, eval.way %v: %v, want %q", tc.loss, tc.way, tc.evalWay, err, tc.want)
		}
	}
}

// TestComputeClassIsACanaryOrItsPrefix: compute_class is empty or 12 to
// 64 lower-case hex digits (a canary as model.Canary writes it, or as much
// of it as logs show); anything else is refused, naming the field.
func TestComputeClassIsACanaryOrItsPrefix(t *testing.T) {
	canary := strings.Repeat("0123456789abcdef", 4)
	for _, tc := range []struct {
		class string
		ok    bool
	}{
		{"", true},
		{canary, true},
		{canary[:12], true},
		{canary[:30], true},
		{canary[:11], false},
		{canary + "0", false},
		{strings.ToUpper(canary[:12]), false},
		{"0123456789ab ", false},
		{"cpu amd64 kernels=avx2", false},
		{"0123456789abcdeg", false},
	} {
		s := DefaultSpec()
		s.ComputeClass = tc.class
		err := s.Validate()
		if tc.ok && err != nil || !tc.ok && (err == nil || !strings.Contains(err.Error(), fmt.Sprintf("compute_class %q: want a worker's canary", tc.class))) {
			t.Errorf("compute_class %q: %v, want ok %v (or an error naming the field)", tc.class, err, tc.ok)
		}
	}
}
