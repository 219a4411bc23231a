package model

import (
	"fmt"
	"math"

	"github.com/fsl-project/fsl/params"
)

// Parameter and state tensor names, in layout order. Block i (1..4) has
// conv<i>.w [F Cin 3 3], bn<i>.gamma [F], bn<i>.beta [F]; the Siamese
// model adds head.w [D 1] and head.b [1]. The state layout has bn<i>.mean
// [F] and bn<i>.var [F] per block.
func paramSpecs(cfg Config) []params.Entry {
	var es []params.Entry
	cin := 1
	for i := 1; i <= 4; i++ {
		es = append(es,
			params.Entry{Name: fmt.Sprintf("conv%d.w", i), Shape: []int{cfg.Filters, cin, 3, 3}},
			params.Entry{Name: fmt.Sprintf("bn%d.gamma", i), Shape: []int{cfg.Filters}},
			params.Entry{Name: fmt.Sprintf("bn%d.beta", i), Shape: []int{cfg.Filters}},
		)
		cin = cfg.Filters
	}
	if cfg.Loss == KindPairs {
		d := embedDim(cfg)
		es = append(es,
			params.Entry{Name: "head.w", Shape: []int{d, 1}},
			params.Entry{Name: "head.b", Shape: []int{1}},
		)
	}
	return es
}

func stateSpecs(cfg Config) []params.Entry {
	var es []params.Entry
	for i := 1; i <= 4; i++ {
		es = append(es,
			params.Entry{Name: fmt.Sprintf("bn%d.mean", i), Shape: []int{cfg.Filters}},
			params.Entry{Name: fmt.Sprintf("bn%d.var", i), Shape: []int{cfg.Filters}},
		)
	}
	return es
}

// newLayout fills in contiguous offsets.
func newLayout(es []params.Entry) params.Layout {
	off := 0
	out := make([]params.Entry, len(es))
	for i, e := range es {
		e.Shape = append([]int(nil), e.Shape...)
		e.Offset = off
		off += e.Size()
		out[i] = e
	}
	return params.Layout{Entries: out}
}

// layoutLen is the number of values a vector of layout l holds.
func layoutLen(l params.Layout) int {
	if len(l.Entries) == 0 {
		return 0
	}
	last := l.Entries[len(l.Entries)-1]
	return last.Offset + last.Size()
}

// embedDim is Filters × side × side of the last feature map.
func embedDim(cfg Config) int {
	_, s := sides(cfg.Size)
	return cfg.Filters * s * s
}

// checkVector reports whether v has the length of layout l and only finite
// values; what names the vector in the error ("parameters", "state").
func checkVector[T float](what string, v []T, l params.Layout) error {
	if want := layoutLen(l); len(v) != want {
		return fmt.Errorf("%s: length %d, want %d: %w", what, len(v), want, ErrParams)
	}
	for i, x := range v {
		if f := float64(x); math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("%s: %s is %v: %w", what, entryAt(l, i), f, ErrParams)
		}
	}
	return nil
}

// entryAt names element i of a vector of layout l, e.g. "bn2.gamma[5]".
func entryAt(l params.Layout, i int) string {
	for _, e := range l.Entries {
		if i >= e.Offset && i < e.Offset+e.Size() {
			return fmt.Sprintf("%s[%d]", e.Name, i-e.Offset)
		}
	}
	return fmt.Sprintf("element %d", i)
}
