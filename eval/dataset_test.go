package eval

import (
	"errors"
	"strings"
	"testing"

	"github.com/fsl-project/fsl/episodes"
	"github.com/fsl-project/fsl/model"
	"github.com/fsl-project/fsl/params"
)

func TestOpenCheckedRefusesAnotherTrainingSplit(t *testing.T) {
	const spec = "glyphs:seed=3,alphabets=5,chars=5,drawers=6"
	train := episodes.Options{Size: 16, Split: episodes.SplitTrain}
	test := episodes.Options{Size: 16, Split: episodes.SplitTest}
	tr, err := episodes.Open(spec, train)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := OpenChecked(spec, train, test, "j", tr.Fingerprint())
	if err != nil || len(ds.Classes) == 0 {
		t.Fatalf("OpenChecked with the job's fingerprint = %v, %v", ds, err)
	}
	if _, err := OpenChecked(spec, train, test, "j", "0123456789abcdef"); !errors.Is(err, ErrOtherDataset) {
		t.Errorf("OpenChecked with another fingerprint: %v, want ErrOtherDataset", err)
	}
	// in colour: the colour training split's fingerprint, not the gray one's
	train.Channels, test.Channels = params.RGB, params.RGB
	ctr, err := episodes.Open(spec, train)
	if err != nil {
		t.Fatal(err)
	}
	ds, err = OpenChecked(spec, train, test, "j", ctr.Fingerprint())
	if err != nil || ds.Channels != params.RGB {
		t.Fatalf("OpenChecked in colour = %v, %v", ds, err)
	}
	if _, err := OpenChecked(spec, train, test, "j", tr.Fingerprint()); !errors.Is(err, ErrOtherDataset) {
		t.Errorf("OpenChecked in colour with the grayscale fingerprint: %v, want ErrOtherDataset", err)
	}
	gray := testNet(t, 16, params.KindEpisode, 1)
	if _, err := NewPlan(gray, ds, EpisodeConfig{Way: 2, Shot: 1, Query: 1, Episodes: 2}); err == nil || !strings.Contains(err.Error(), "channels") {
		t.Errorf("a grayscale model on colour images: %v, want an error about channels", err)
	}
}

func TestNewNetRefusesVectorsThatDoNotFitTheModel(t *testing.T) {
	m, err := model.New(model.Config{Size: 16, Filters: 2})
	if err != nil {
		t.Fatal(err)
	}
	other, err := model.New(model.Config{Size: 16, Filters: 3})
	if err != nil {
		t.Fatal(err)
	}
	p, st := m.Init(1)
	for _, c := range []struct {
		name   string
		layout params.Layout
		p, st  params.Vector
		want   string // "" for success
	}{
		{"fits", m.Layout(), p, st, ""},
		{"no stored layout", params.Layout{}, p, st, ""},
		{"another layout", other.Layout(), p, st, "laid out otherwise"},
		{"short parameters", m.Layout(), p[:len(p)-1], st, "parameters"},
		{"short statistics", m.Layout(), p, st[:len(st)-1], "batch-norm statistics"},
	} {
		t.Run(c.name, func(t *testing.T) {
			net, err := NewNet(m, c.layout, c.p, c.st)
			if c.want == "" {
				if err != nil || net.Model != m {
					t.Fatalf("NewNet: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("NewNet: %v, want an error about %q", err, c.want)
			}
		})
	}
}
