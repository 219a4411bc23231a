package model

import (
	"fmt"
	"testing"

	"github.com/fsl-project/fsl/params"
)

// TestTorchLayoutsRenameEveryTensorInPlace: every parameter and state
// tensor gets its PyTorch name, at the same offset with as many values, so
// one vector is laid out by both layouts.
func TestTorchLayoutsRenameEveryTensorInPlace(t *testing.T) {
	for _, loss := range []params.Kind{params.KindEpisode, params.KindTriplets, params.KindPairs} {
		t.Run(loss.String(), func(t *testing.T) {
			m, err := New(Config{Loss: loss, Size: 16, Filters: 8})
			if err != nil {
				t.Fatal(err)
			}
			pl, sl, err := m.TorchLayouts()
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{}
			for b := 1; b <= 4; b++ {
				p := fmt.Sprintf("encoder.%d.", b-1)
				want[fmt.Sprintf("conv%d.w", b)] = p + "conv.weight"
				want[fmt.Sprintf("bn%d.gamma", b)] = p + "bn.weight"
				want[fmt.Sprintf("bn%d.beta", b)] = p + "bn.bias"
				want[fmt.Sprintf("bn%d.mean", b)] = p + "bn.running_mean"
				want[fmt.Sprintf("bn%d.var", b)] = p + "bn.running_var"
			}
			want["head.w"], want["head.b"] = "head.weight", "head.bias"
			for _, c := range []struct{ fsl, torch params.Layout }{{m.Layout(), pl}, {m.StateLayout(), sl}} {
				if len(c.fsl.Entries) != len(c.torch.Entries) {
					t.Fatalf("%d entries renamed to %d", len(c.fsl.Entries), len(c.torch.Entries))
				}
				for i, e := range c.fsl.Entries {
					te := c.torch.Entries[i]
					if te.Name != want[e.Name] || te.Offset != e.Offset || te.Size() != e.Size() {
						t.Errorf("%s %v at %d → %s %v at %d, want %s", e.Name, e.Shape, e.Offset, te.Name, te.Shape, te.Offset, want[e.Name])
					}
					if e.Name != "head.w" && fmt.Sprint(te.Shape) != fmt.Sprint(e.Shape) {
						t.Errorf("%s: shape %v → %v", e.Name, e.Shape, te.Shape)
					}
				}
			}
			if loss == params.KindPairs {
				if e, ok := pl.Lookup("head.weight"); !ok || fmt.Sprint(e.Shape) != fmt.Sprint([]int{1, m.EmbedDim()}) {
					t.Errorf("head.weight %v, want Linear's [1 %d]", e.Shape, m.EmbedDim())
				}
			}
		})
	}
}
