package wire

import (
	"errors"
	"strings"
	"testing"
)

func TestNewSubjectsNamesEveryEndpoint(t *testing.T) {
	s, err := NewSubjects("omniglot-proto_2")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		s.Join: "fsl.omniglot-proto_2.join", s.Work: "fsl.omniglot-proto_2.work",
		s.Result: "fsl.omniglot-proto_2.result", s.Params: "fsl.omniglot-proto_2.params",
		s.Heartbeat: "fsl.omniglot-proto_2.hb", s.Ctl: "fsl.omniglot-proto_2.ctl",
		s.Status: "fsl.omniglot-proto_2.status", s.Checkpoint: "fsl.omniglot-proto_2.ckpt",
	}
	if len(want) != 8 {
		t.Fatalf("subjects are not distinct: %+v", s)
	}
	for got, w := range want {
		if got != w {
			t.Errorf("subject %q, want %q", got, w)
		}
	}
	if s.Job != "omniglot-proto_2" {
		t.Errorf("Job = %q", s.Job)
	}
}

func TestNewSubjectsRejectsUnsafeJobIDs(t *testing.T) {
	tests := []struct{ name, job, mention string }{
		{"empty", "", "empty"},
		{"dot adds a token", "a.b", `"."`},
		{"star wildcard", "job*", `"*"`},
		{"tail wildcard", "job>", `">"`},
		{"space", "my job", `" "`},
		{"tab", "job\t1", `"\t"`},
		{"non-ASCII", "jöb", `byte 1`},
		{"too long", strings.Repeat("a", MaxJobLen+1), "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewSubjects(tt.job)
			if !errors.Is(err, ErrInvalidJob) {
				t.Fatalf("NewSubjects(%q) err = %v, want ErrInvalidJob", tt.job, err)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("error %q does not mention %s", err, tt.mention)
			}
		})
	}
}

func TestValidateJobAcceptsLongestID(t *testing.T) {
	if err := ValidateJob(strings.Repeat("Z9_-", MaxJobLen/4)); err != nil {
		t.Fatal(err)
	}
}
