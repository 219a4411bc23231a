package model

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/fsl-project/fsl/params"
)

func TestColourModelLayoutAndInit(t *testing.T) {
	m := mustNew(t, Config{Loss: params.KindEpisode, Channels: params.RGB})
	first := m.Layout().Entries[0]
	if got := fmt.Sprintf("%s %v", first.Name, first.Shape); got != "conv1.w [64 3 3 3]" {
		t.Errorf("first entry %s, want conv1.w [64 3 3 3]", got)
	}
	// 111,680 grayscale parameters and two more input planes of 64×9 weights
	if n := m.NumParams(); n != 111680+2*576 {
		t.Errorf("%d parameters, want %d", n, 111680+2*576)
	}
	if m.Config().Channels != params.RGB || m.Config().InputChannels() != params.RGB {
		t.Errorf("config %+v, want 3 channels", m.Config())
	}
	p, _ := m.Init(4)
	var sq float64
	for _, x := range p[:first.Size()] {
		sq += float64(x) * float64(x)
	}
	// He: fan-in C·9 = 27
	if std, want := math.Sqrt(sq/float64(first.Size())), math.Sqrt(2.0/27); math.Abs(std-want) > 0.05*want {
		t.Errorf("conv1.w std %.4f, want He %.4f", std, want)
	}
	for _, c := range []int{-1, 2, 4, 255} {
		if _, err := New(Config{Channels: c}); !errors.Is(err, ErrConfig) {
			t.Errorf("New(channels %d): %v, want ErrConfig", c, err)
		}
	}
	if c := mustNew(t, Config{Channels: params.Gray}).Config(); c.Channels != 0 || c.InputChannels() != 1 {
		t.Errorf("channels 1 became %d (input %d), want 0 (input 1)", c.Channels, c.InputChannels())
	}
}

// TestGrayscaleBitsAreThoseBeforeColour pins, from the build before models
// had channels, the bits a grayscale model starts from: Init's parameters
// and state and the canary's batch (pure functions of the seed, so the same
// on every machine). Channels 1 and 0 are one model.
func TestGrayscaleBitsAreThoseBeforeColour(t *testing.T) {
	const (
		canaryPixels = "c9ed17ee48cfd077fdbe2dec9fc197b08873fd7c6ad1ef0d296d7f43da59d2af"
		initProto    = "9fa6fa14f0c7c8170a4e8fe03a35378eb56d7271d75ce4a518ee308d7a772b60"
		initSiamese  = "16d9be479a4cab6ebfd9c7bf9a3e9732ecbfd12f4cbb335e4609aad53a00920e"
	)
	for _, tc := range []struct {
		loss params.Kind
		init string
	}{{params.KindEpisode, initProto}, {params.KindTriplets, initProto}, {params.KindPairs, initSiamese}, {params.KindClasses, initProto}} {
		for _, c := range []int{0, params.Gray} {
			m := mustNew(t, Config{Loss: tc.loss, Channels: c})
			b := canaryBatch(m.Config())
			if sum := sha256.Sum256(b.Pixels); hex.EncodeToString(sum[:]) != canaryPixels || b.Channels != 0 {
				t.Errorf("%s, channels %d: canary batch pixels %x (channels %d), want %s", tc.loss, c, sum, b.Channels, canaryPixels)
			}
			p, s := m.Init(canarySeed)
			if h := hashOf(p, s); h != tc.init {
				t.Errorf("%s, channels %d: Init %s, want %s", tc.loss, c, h, tc.init)
			}
		}
	}
}

func TestColourBatchesMustMatchTheModel(t *testing.T) {
	gray := mustNew(t, Config{Loss: params.KindTriplets, Size: 16, Filters: 4})
	rgb := mustNew(t, Config{Loss: params.KindTriplets, Size: 16, Filters: 4, Channels: params.RGB})
	gp, gs := gray.Init(1)
	cp, cs := rgb.Init(1)
	g := synthBatch(params.KindTriplets, 16, 2, 1)
	c := inColour(g, params.RGB, 1)
	for _, tc := range []struct {
		name string
		m    *Model
		p, s params.Vector
		b    *params.Batch
	}{
		{"grayscale batch, colour model", rgb, cp, cs, g},
		{"colour batch, grayscale model", gray, gp, gs, c},
		{"colour pixels claimed grayscale", rgb, cp, cs, func() *params.Batch { b := *c; b.Channels = 0; return &b }()},
		{"two channels", rgb, cp, cs, func() *params.Batch { b := *c; b.Channels = 2; return &b }()},
		{"one plane short", rgb, cp, cs, func() *params.Batch { b := *c; b.Pixels = b.Pixels[:len(b.Pixels)-256]; return &b }()},
	} {
		if _, err := tc.m.Grad(tc.p, tc.s, tc.b); !errors.Is(err, ErrBatch) {
			t.Errorf("%s: Grad error %v, want ErrBatch", tc.name, err)
		}
	}
	if _, err := rgb.Embed(cp, cs, g.Pixels, g.Images()); !errors.Is(err, ErrBatch) {
		t.Errorf("Embed of grayscale pixels on a colour model: %v, want ErrBatch", err)
	}
	if _, err := rgb.Grad(cp, cs, c); err != nil {
		t.Errorf("colour batch, colour model: %v", err)
	}
}

// TestColourEmbedIsPerImageAndSeesEveryPlane: an RGB image embeds alike
// alone and in a batch, and swapping its red and blue planes changes its
// embedding (each plane reaches the network as a channel of its own).
func TestColourEmbedIsPerImageAndSeesEveryPlane(t *testing.T) {
	m := mustNew(t, Config{Loss: params.KindTriplets, Size: 16, Filters: 4, Channels: params.RGB})
	p, s := m.Init(9)
	b := inColour(synthBatch(params.KindTriplets, 16, 23, 9), params.RGB, 9) // 69 images: two chunks
	d := m.EmbedDim()
	all, err := m.Embed(p, s, b.Pixels, b.Images())
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 68} {
		one, err := m.Embed(p, s, b.Image(i), 1)
		if err != nil {
			t.Fatal(err)
		}
		for j := range one {
			if one[j] != all[i*d+j] {
				t.Fatalf("image %d embeds differently alone and in a batch", i)
			}
		}
	}
	img := append([]uint8(nil), b.Image(0)...)
	copy(img[:256], b.Image(0)[512:])
	copy(img[512:], b.Image(0)[:256])
	swapped, err := m.Embed(p, s, img, 1)
	if err != nil {
		t.Fatal(err)
	}
	same := true
	for j := range swapped {
		same = same && swapped[j] == all[j]
	}
	if same {
		t.Error("swapping the red and blue planes left the embedding unchanged")
	}
}
