package params_test

import (
	"fmt"

	"github.com/fsl-project/fsl/params"
)

// Shards are added, and summed, in shard order.
func ExampleAggregator() {
	agg, err := params.NewAggregator(3, 2)
	if err != nil {
		panic(err)
	}
	_ = agg.Add(0, params.Vector{1, 0}, 1)
	fmt.Println(agg.Add(0, params.Vector{9, 9}, 1)) // a late copy
	_ = agg.Add(1, params.Vector{0, 1}, 1)
	_ = agg.Add(2, params.Vector{3, 3}, 2)
	mean, err := agg.Mean()
	fmt.Println(mean, agg.Total(), err)
	// Output:
	// params: aggregate shard 0: already added: invalid shard result
	// [1.75 1.75] 4 <nil>
}

func ExampleNewOptimizer() {
	layout, err := params.NewLayout(
		params.Spec{Name: "fc.w", Shape: []int{2, 2}},
		params.Spec{Name: "fc.b", Shape: []int{2}},
	)
	if err != nil {
		panic(err)
	}
	opt, err := params.NewOptimizer(params.OptimizerConfig{Name: "sgd", LR: 0.5, Momentum: 0.9}, layout)
	if err != nil {
		panic(err)
	}
	p := params.New(layout)
	g := params.Vector{1, 0, 0, 1, 2, -2}
	for step := range 2 {
		if err := opt.Step(p, g, step); err != nil {
			panic(err)
		}
	}
	b, _ := layout.View(p, "fc.b")
	fmt.Println(b)
	_, err = params.NewOptimizer(params.OptimizerConfig{Name: "lamb"}, layout)
	fmt.Println(err)
	// Output:
	// [-2.9 2.9]
	// params: optimizer name "lamb" unknown, want "sgd" or "adam": invalid configuration
}
