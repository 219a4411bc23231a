package coordinator

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fsl-project/fsl/checkpoints"
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
		{"two fields and steps", func(s *JobSpec) { s.Seed, s.Rotations, s.Steps = 2, true, 9 },
			[]string{"  --rotations: false → true", "  --seed: 1 → 2"}, []string{"steps"}},
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
