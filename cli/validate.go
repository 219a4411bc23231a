package cli

import (
	"fmt"

	"github.com/fsl-project/fsl/coordinator"
	"github.com/fsl-project/fsl/episodes"
	"github.com/fsl-project/fsl/eval"
	"github.com/fsl-project/fsl/model"
	"github.com/fsl-project/fsl/params"
)

// validationEpisodes is the protocol of validation during training: 5-way
// 1-shot, 15 queries per class, on the validation classes (whole alphabets
// held out of the training split), a fixed seed so every validation of a
// run draws the same episodes.
var validationEpisodes = eval.EpisodeConfig{Way: 5, Shot: 1, Query: 15, Seed: 1}

// newValidator returns the driver's Validate hook for spec: it opens the
// validation split once and measures each version on n episodes, giving
// val_acc and val_ci95.
func newValidator(spec coordinator.JobSpec, n int) (func(int, params.Vector, params.Vector) (map[string]float64, error), error) {
	if spec.EvalEvery <= 0 || n <= 0 {
		return nil, nil
	}
	val, err := episodes.Open(spec.Dataset, episodes.Options{Size: spec.Size, Split: episodes.SplitVal})
	if err != nil {
		return nil, fmt.Errorf("validation classes of %q: %w", spec.Dataset, err)
	}
	m, err := model.New(spec.ModelConfig())
	if err != nil {
		return nil, err
	}
	cfg := validationEpisodes
	cfg.Episodes = n
	return func(_ int, p, st params.Vector) (map[string]float64, error) {
		r, err := eval.Episodes(eval.Net{Model: m, Params: p, State: st}, val, cfg, nil)
		if err != nil {
			return nil, err
		}
		return map[string]float64{"val_acc": r.Mean, "val_ci95": r.CI95}, nil
	}, nil
}
