package worker

import (
	"errors"
	"strings"
	"testing"

	"github.com/fsl-project/fsl/model"
	"github.com/fsl-project/fsl/params"
	"github.com/fsl-project/fsl/wire"
)

// TestComputeEmbedsColourImages: an evaluation shard of RGB images embeds
// on an RGB model, and a grayscale model refuses it, naming the channels.
func TestComputeEmbedsColourImages(t *testing.T) {
	rgb, err := model.New(model.Config{Size: 16, Filters: 4, Channels: params.RGB})
	if err != nil {
		t.Fatal(err)
	}
	gray, err := model.New(model.Config{Size: 16, Filters: 4})
	if err != nil {
		t.Fatal(err)
	}
	l := &wire.Lease{Step: 3, Batch: params.Batch{Kind: params.KindEmbed, Size: 16, Channels: params.RGB,
		Pixels: make([]uint8, 2*3*256), Labels: make([]int32, 2)}}
	p, s := rgb.Init(1)
	r, err := Compute(rgb, p, s, l)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Grads) != 2*rgb.EmbedDim() || r.Count != 2 {
		t.Errorf("%d values, count %d; want %d, 2", len(r.Grads), r.Count, 2*rgb.EmbedDim())
	}
	gp, gs := gray.Init(1)
	if _, err := Compute(gray, gp, gs, l); !errors.Is(err, model.ErrBatch) || !strings.Contains(err.Error(), "channels") {
		t.Errorf("RGB shard on a grayscale model: %v, want model.ErrBatch naming the channels", err)
	}
}
