package eval

import (
	"fmt"

	"github.com/fsl-project/fsl/episodes"
	"github.com/fsl-project/fsl/model"
	"github.com/fsl-project/fsl/params"
)

// ValidationEpisodes is the protocol of validation during training: 5-way
// 1-shot, 15 queries per class, on the validation classes (whole alphabets
// held out of the training split), a fixed seed so every validation of a
// run draws the same episodes. Episodes is set per run.
var ValidationEpisodes = EpisodeConfig{Way: 5, Shot: 1, Query: 15, Seed: 1}

// NewValidator returns a function that measures parameters and model state
// of the network cfg describes on n ValidationEpisodes of val, giving
// val_acc and val_ci95: the coordinator driver's Validate hook.
func NewValidator(cfg model.Config, val *episodes.Dataset, n int) (func(version int, p, st params.Vector) (map[string]float64, error), error) {
	if n < 1 {
		return nil, fmt.Errorf("eval: validator: %d episodes, want at least 1", n)
	}
	m, err := model.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("eval: validator: %w", err)
	}
	ec := ValidationEpisodes
	ec.Episodes = n
	return func(_ int, p, st params.Vector) (map[string]float64, error) {
		r, err := Episodes(Net{Model: m, Params: p, State: st}, val, ec, nil)
		if err != nil {
			return nil, err
		}
		return map[string]float64{"val_acc": r.Mean, "val_ci95": r.CI95}, nil
	}, nil
}
