package eval

import (
	"errors"
	"testing"

	"github.com/fsl-project/fsl/episodes"
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
}
