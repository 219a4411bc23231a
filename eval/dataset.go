package eval

import (
	"errors"
	"fmt"

	"github.com/fsl-project/fsl/episodes"
)

// Errors of OpenChecked, for callers that offer to evaluate unchecked.
var (
	// ErrUncheckable: the dataset has no training split to compare.
	ErrUncheckable = errors.New("eval: dataset cannot be checked against the job")
	// ErrOtherDataset: the dataset's training split is not the one the job
	// trained on.
	ErrOtherDataset = errors.New("eval: not the job's training data")
)

// OpenChecked opens the classes test selects from the dataset spec names,
// after checking that its training split (train) has fingerprint, the one
// job recorded when it trained: figures on other data would be mislabelled.
// One load serves both splits (Omniglot: both zips).
func OpenChecked(spec string, train, test episodes.Options, job, fingerprint string) (*episodes.Dataset, error) {
	for _, o := range []*episodes.Options{&train, &test} {
		if err := o.ReadList(spec); err != nil {
			return nil, fmt.Errorf("evaluation dataset %q: %w", spec, err)
		}
	}
	if train.List != nil && test.List != nil {
		if err := episodes.CheckDisjoint(train.List, test.List); err != nil {
			return nil, fmt.Errorf("evaluation dataset %q: %w", spec, err)
		}
	}
	all, err := episodes.Open(spec, episodes.Options{Size: test.Size, Channels: test.Channels})
	if err != nil {
		return nil, fmt.Errorf("evaluation dataset: %w", err)
	}
	tr, err := episodes.Select(all, train)
	if err != nil {
		return nil, fmt.Errorf("dataset %q: cannot check it against job %q: training split: %w: %w", spec, job, err, ErrUncheckable)
	}
	if fp := tr.Fingerprint(); fp != fingerprint {
		return nil, fmt.Errorf("dataset %q: its training split %q has fingerprint %.16s, but job %q trained on %.16s: "+
			"the data changed, or it is another dataset: %w", spec, train.Split, fp, job, fingerprint, ErrOtherDataset)
	}
	ds, err := episodes.Select(all, test)
	if err != nil {
		return nil, fmt.Errorf("evaluation classes of %q: %w", spec, err)
	}
	return ds, nil
}
