package model

import (
	"fmt"

	"github.com/fsl-project/fsl/params"
)

// Parameter and state tensor names, in layout order. Block i (1..4) has
// conv<i>.w [F Cin 3 3] (Cin the input's channels for block 1, F after),
// bn<i>.gamma [F], bn<i>.beta [F]; the Siamese
// model adds head.w [D 1] and head.b [1]. The state layout has bn<i>.mean
// [F] and bn<i>.var [F] per block.
func paramSpecs(cfg Config) []params.Spec {
	var es []params.Spec
	cin := cfg.InputChannels()
	for i := 1; i <= 4; i++ {
		es = append(es,
			params.Spec{Name: fmt.Sprintf("conv%d.w", i), Shape: []int{cfg.Filters, cin, 3, 3}},
			params.Spec{Name: fmt.Sprintf("bn%d.gamma", i), Shape: []int{cfg.Filters}},
			params.Spec{Name: fmt.Sprintf("bn%d.beta", i), Shape: []int{cfg.Filters}},
		)
		cin = cfg.Filters
	}
	if cfg.Loss == params.KindPairs {
		d := embedDim(cfg)
		es = append(es,
			params.Spec{Name: "head.w", Shape: []int{d, 1}},
			params.Spec{Name: "head.b", Shape: []int{1}},
		)
	}
	return es
}

func stateSpecs(cfg Config) []params.Spec {
	var es []params.Spec
	for i := 1; i <= 4; i++ {
		es = append(es,
			params.Spec{Name: fmt.Sprintf("bn%d.mean", i), Shape: []int{cfg.Filters}},
			params.Spec{Name: fmt.Sprintf("bn%d.var", i), Shape: []int{cfg.Filters}},
		)
	}
	return es
}

// embedDim is Filters × side × side of the last feature map.
func embedDim(cfg Config) int {
	_, s := sides(cfg.Size)
	return cfg.Filters * s * s
}

// checkVector reports whether v has the length of layout l and only finite
// values; what names the vector in the error ("parameters", "state").
func checkVector(what string, v params.Vector, l params.Layout) error {
	if want := l.Size(); len(v) != want {
		return fmt.Errorf("%s: length %d, want %d: %w", what, len(v), want, ErrParams)
	}
	if err := v.CheckFinite(); err != nil {
		return fmt.Errorf("%s: %w: %w", what, err, ErrParams)
	}
	return nil
}
