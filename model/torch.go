package model

import (
	"fmt"

	"github.com/fsl-project/fsl/params"
)

// TorchLayouts returns m's parameter and state layouts under the names and
// shapes of the equivalent PyTorch module's state_dict, with the same
// offsets, so a vector laid out by Layout is laid out by the first and one
// laid out by StateLayout by the second:
//
//	conv<i>.w [F Cin 3 3] → encoder.<i-1>.conv.weight  (Conv2d(Cin, F, 3, padding=1, bias=False): [out in kh kw])
//	bn<i>.gamma [F]       → encoder.<i-1>.bn.weight    (BatchNorm2d(F, eps=1e-5, momentum=0.1))
//	bn<i>.beta [F]        → encoder.<i-1>.bn.bias
//	bn<i>.mean [F]        → encoder.<i-1>.bn.running_mean
//	bn<i>.var [F]         → encoder.<i-1>.bn.running_var (unbiased, as PyTorch keeps it)
//	head.w [D 1]          → head.weight [1 D]          (Linear(D, 1); the same values: one dimension is 1)
//	head.b [1]            → head.bias [1]
//
// Each block is conv → batch norm → ReLU → max_pool2d(2) (floor), the
// input is the uint8 pixels / 255 as [N C Size Size] (C = Config.InputChannels:
// an image's planes are its channels), and the embedding is
// the last block's [N F s s] output flattened per image (torch.flatten(x, 1)).
func (m *Model) TorchLayouts() (p, state params.Layout, err error) {
	p, err = renamed(m.layout)
	if err != nil {
		return params.Layout{}, params.Layout{}, err
	}
	state, err = renamed(m.stateLayout)
	if err != nil {
		return params.Layout{}, params.Layout{}, err
	}
	return p, state, nil
}

// renamed is l with every entry under its PyTorch name and shape.
func renamed(l params.Layout) (params.Layout, error) {
	specs := make([]params.Spec, len(l.Entries))
	for i, e := range l.Entries {
		name, shape, err := torchName(e)
		if err != nil {
			return params.Layout{}, err
		}
		specs[i] = params.Spec{Name: name, Shape: shape}
	}
	return params.NewLayout(specs...)
}

func torchName(e params.Entry) (string, []int, error) {
	switch e.Name {
	case "head.w":
		return "head.weight", []int{1, e.Size()}, nil
	case "head.b":
		return "head.bias", e.Shape, nil
	}
	var block int
	var part string
	if _, err := fmt.Sscanf(e.Name, "conv%d.%s", &block, &part); err == nil && part == "w" {
		return fmt.Sprintf("encoder.%d.conv.weight", block-1), e.Shape, nil
	}
	if _, err := fmt.Sscanf(e.Name, "bn%d.%s", &block, &part); err == nil {
		suffix := map[string]string{"gamma": "weight", "beta": "bias", "mean": "running_mean", "var": "running_var"}[part]
		if suffix != "" {
			return fmt.Sprintf("encoder.%d.bn.%s", block-1, suffix), e.Shape, nil
		}
	}
	return "", nil, fmt.Errorf("model: tensor %q has no PyTorch name", e.Name)
}
