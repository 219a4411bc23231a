package cli

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fsl-project/fsl/checkpoints"
	"github.com/fsl-project/fsl/coordinator"
	"github.com/fsl-project/fsl/model"
	"github.com/fsl-project/fsl/params"
)

// safetensorsJob stores job "j" of the given loss (16×16 glyphs) with one
// checkpoint at step 20 whose parameters come from the model's
// initialisation and whose running statistics are random (mean in
// [-0.5, 0.5), variance in [0.5, 2)), so that a mix-up of mean, variance,
// gamma or beta changes the embedding.
func safetensorsJob(t *testing.T, loss string, channels int) (db string, m *model.Model, c *checkpoints.Checkpoint) {
	t.Helper()
	spec := coordinator.JobSpec{ID: "j", Dataset: evalGlyphs, Size: 16, Channels: channels, Loss: loss}.WithDefaults()
	m, err := model.New(spec.ModelConfig())
	if err != nil {
		t.Fatal(err)
	}
	specJSON, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	db = filepath.Join(t.TempDir(), "fsl.db")
	st, err := checkpoints.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.PutJob(checkpoints.JobRecord{ID: "j", Spec: specJSON, SpecFormat: "json", Layout: m.Layout(), Dataset: "fp"}); err != nil {
		t.Fatal(err)
	}
	p, state := m.Init(5)
	x := uint64(99)
	next := func() float32 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		return float32(x>>40) / (1 << 24)
	}
	f := m.Config().Filters
	for b := 0; b < 4; b++ {
		for i := 0; i < f; i++ {
			state[2*b*f+i] = next() - 0.5
			state[(2*b+1)*f+i] = 0.5 + 1.5*next()
		}
	}
	// gamma and beta away from their initial 1 and 0 as well.
	for _, e := range m.Layout().Entries {
		if strings.HasPrefix(e.Name, "bn") {
			for i := e.Offset; i < e.Offset+e.Size(); i++ {
				p[i] += next() - 0.5
			}
		}
	}
	c = &checkpoints.Checkpoint{Step: 20, Params: p, State: state, Metrics: map[string]float64{"val_acc": 0.5}}
	if err := st.Save("j", c); err != nil {
		t.Fatal(err)
	}
	return db, m, c
}

// wantTorchTensors is the state_dict of README's PyTorch Conv-4 with f
// filters on images of cin channels, plus the Siamese head of an
// embedding of d values.
func wantTorchTensors(f, d, cin int, siamese bool) map[string][]int {
	want := map[string][]int{}
	for b := 0; b < 4; b++ {
		want[fmt.Sprintf("encoder.%d.conv.weight", b)] = []int{f, cin, 3, 3}
		for _, s := range []string{"weight", "bias", "running_mean", "running_var"} {
			want[fmt.Sprintf("encoder.%d.bn.%s", b, s)] = []int{f}
		}
		cin = f
	}
	if siamese {
		want["head.weight"] = []int{1, d}
		want["head.bias"] = []int{1}
	}
	return want
}

func TestExportSafetensorsHasTorchNamesAndReimportsBitForBit(t *testing.T) {
	for _, tc := range []struct {
		loss     string
		channels int
	}{{"proto", 1}, {"triplet", 1}, {"siamese", 1}, {"proto", 3}, {"siamese", 3}} {
		loss, channels := tc.loss, tc.channels
		t.Run(fmt.Sprintf("%s %d channels", loss, channels), func(t *testing.T) {
			db, m, c := safetensorsJob(t, loss, channels)
			out := filepath.Join(t.TempDir(), "j.safetensors")
			got, err := runCoord(t, "checkpoints", "export", "--db", db, "--job", "j", "--step", "20", "--format", "safetensors", "--out", out)
			if err != nil {
				t.Fatalf("%v: %s", err, got)
			}
			sum := c.ParamsSHA256()
			if !strings.Contains(got, "to "+out) {
				t.Errorf("output %q does not name %s", got, out)
			}
			s, err := checkpoints.ReadSafetensorsFile(out)
			if err != nil {
				t.Fatal(err)
			}
			want := wantTorchTensors(m.Config().Filters, m.EmbedDim(), channels, loss == "siamese")
			if len(s.Tensors) != len(want) {
				t.Errorf("%d tensors, want %d", len(s.Tensors), len(want))
			}
			for _, ts := range s.Tensors {
				if shape, ok := want[ts.Name]; !ok || !slices.Equal(ts.Shape, shape) {
					t.Errorf("tensor %q shape %v, want %v (present: %v)", ts.Name, ts.Shape, shape, ok)
				}
			}
			for k, v := range map[string]string{"fsl.job": "j", "fsl.step": "20", "fsl.loss": loss, "fsl.size": "16",
				"fsl.filters": strconv.Itoa(m.Config().Filters), "fsl.embed_dim": strconv.Itoa(m.EmbedDim()),
				"fsl.bn_eps": "1e-05", "fsl.bn_momentum": "0.1", "format": "pt", "fsl.dataset": "fp",
				"fsl.params_sha256": fmt.Sprintf("%x", sum), "fsl.input": fmt.Sprintf("uint8 pixels / 255 as float32 [N %d size size]", channels)} {
				if s.Metadata[k] != v {
					t.Errorf("metadata %q = %q, want %q", k, s.Metadata[k], v)
				}
			}
			// written only for colour: a grayscale export's metadata is as before
			if got, ok := s.Metadata["fsl.channels"]; (channels == 1) == ok || (ok && got != strconv.Itoa(channels)) {
				t.Errorf("metadata fsl.channels = %q (present %v) for %d channels", got, ok, channels)
			}

			lc, err := readCheckpointFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if lc.ckpt.Step != 20 || lc.rec.ID != "j" || !lc.rec.Layout.Equal(m.Layout()) || lc.rec.Dataset != "fp" {
				t.Errorf("re-import: step %d job %q dataset %q", lc.ckpt.Step, lc.rec.ID, lc.rec.Dataset)
			}
			if !sameBits(lc.ckpt.Params, c.Params) || !sameBits(lc.ckpt.State, c.State) {
				t.Errorf("re-import differs from the stored checkpoint")
			}
			if _, _, err := buildNet(lc); err != nil {
				t.Errorf("the re-imported checkpoint builds no network: %v", err)
			}

			// A PyTorch Conv-4 reading these tensors by README's rules
			// computes fsl's embedding.
			byName := map[string]checkpoints.Tensor{}
			for _, ts := range s.Tensors {
				byName[ts.Name] = ts
			}
			const n = 3
			px := make([]uint8, n*channels*16*16)
			for i := range px {
				px[i] = uint8((i*37 + i/16*11) % 256)
			}
			emb, err := m.Embed(c.Params, c.State, px, n)
			if err != nil {
				t.Fatal(err)
			}
			ref := torchConv4(byName, px, n, channels, 16)
			if len(ref) != len(emb) {
				t.Fatalf("reference embeds %d values, fsl %d", len(ref), len(emb))
			}
			var worst float64
			for i := range ref {
				worst = max(worst, math.Abs(ref[i]-float64(emb[i]))/(1+math.Abs(ref[i])))
			}
			if !(worst <= 1e-4) { // NaN fails too
				t.Errorf("reference forward differs from Embed by %g (relative)", worst)
			}
			if loss == "siamese" { // README: sigmoid(head(|e1 - e2|)) with Linear(D, 1)
				d := m.EmbedDim()
				w, b := byName["head.weight"].Data, byName["head.bias"].Data
				z := float64(b[0])
				for i := 0; i < d; i++ {
					z += float64(w[i]) * math.Abs(ref[i]-ref[d+i])
				}
				want, err := m.PairScore(c.Params, emb[:d], emb[d:2*d])
				if err != nil {
					t.Fatal(err)
				}
				if got := 1 / (1 + math.Exp(-z)); !(math.Abs(got-float64(want)) <= 1e-5) {
					t.Errorf("reference pair score %v, PairScore %v", got, want)
				}
			}
		})
	}
}

func sameBits(a, b params.Vector) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// torchConv4 is PyTorch's eval-mode Conv-4 written out in float64:
// Conv2d(3×3, padding 1, no bias) on [out in kh kw] weights, BatchNorm2d
// with running statistics and eps 1e-5, ReLU, max_pool2d(2), and
// flatten(1), on pixels / 255 of n images of channels planes each, as
// [N C size size].
func torchConv4(ts map[string]checkpoints.Tensor, px []uint8, n, channels, size int) []float64 {
	var out []float64
	for img := 0; img < n; img++ {
		cin, s := channels, size
		x := make([]float64, cin*s*s)
		for i := range x {
			x[i] = float64(float32(px[img*cin*size*size+i]) / 255)
		}
		for b := 0; b < 4; b++ {
			w := ts[fmt.Sprintf("encoder.%d.conv.weight", b)]
			get := func(k string) []float32 { return ts[fmt.Sprintf("encoder.%d.bn.%s", b, k)].Data }
			gamma, beta, mean, vr := get("weight"), get("bias"), get("running_mean"), get("running_var")
			f := w.Shape[0]
			y := make([]float64, f*s*s)
			for o := 0; o < f; o++ {
				for i := 0; i < s; i++ {
					for j := 0; j < s; j++ {
						var acc float64
						for c := 0; c < cin; c++ {
							for ky := 0; ky < 3; ky++ {
								for kx := 0; kx < 3; kx++ {
									yi, xj := i+ky-1, j+kx-1
									if yi < 0 || yi >= s || xj < 0 || xj >= s {
										continue
									}
									acc += float64(w.Data[((o*cin+c)*3+ky)*3+kx]) * x[(c*s+yi)*s+xj]
								}
							}
						}
						v := (acc-float64(mean[o]))/math.Sqrt(float64(vr[o])+1e-5)*float64(gamma[o]) + float64(beta[o])
						y[(o*s+i)*s+j] = max(v, 0)
					}
				}
			}
			h := s / 2
			x = make([]float64, f*h*h)
			for o := 0; o < f; o++ {
				for i := 0; i < h; i++ {
					for j := 0; j < h; j++ {
						at := func(a, b int) float64 { return y[(o*s+a)*s+b] }
						x[(o*h+i)*h+j] = max(at(2*i, 2*j), at(2*i, 2*j+1), at(2*i+1, 2*j), at(2*i+1, 2*j+1))
					}
				}
			}
			cin, s = f, h
		}
		out = append(out, x...)
	}
	return out
}

func TestExportSafetensorsFlags(t *testing.T) {
	db, _, _ := safetensorsJob(t, "proto", 1)
	dir := t.TempDir()
	tests := []struct {
		name    string
		args    []string
		wantErr string
		file    string
	}{
		{"default name", []string{"--format", "safetensors"}, "", "j-20.safetensors"},
		{"default name of fsl's format", []string{"--checkpoint", "latest"}, "", "j-20.fslck"},
		{"unknown format", []string{"--format", "onnx"}, `--format "onnx"`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Chdir(dir)
			out, err := runCoord(t, append([]string{"checkpoints", "export", "--db", db, "--job", "j"}, tc.args...)...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if _, err := readCheckpointFile(filepath.Join(dir, tc.file)); err != nil {
				t.Errorf("%s: %v", tc.file, err)
			}
		})
	}
}

func TestEvalFromASafetensorsExportMatchesTheStore(t *testing.T) {
	db, _, _ := safetensorsJob(t, "proto", 1)
	exp := filepath.Join(t.TempDir(), "j.safetensors")
	if out, err := runCoord(t, "checkpoints", "export", "--db", db, "--job", "j", "--format", "safetensors", "--out", exp); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	common := []string{"--way", "3", "--query", "2", "--episodes", "5", "--json", "--quiet", "--data", evalGlyphs, "--force"}
	fromStore, _, err := runEval(t, append([]string{"--db", db, "--job", "j"}, common...)...)
	if err != nil {
		t.Fatal(err)
	}
	fromFile, _, err := runEval(t, append([]string{"--from", exp}, common...)...)
	if err != nil {
		t.Fatal(err)
	}
	a, b := decodeEval(t, fromStore), decodeEval(t, fromFile)
	if a.ParamsSHA256 != b.ParamsSHA256 || b.Step != 20 || a.Results[0] != b.Results[0] || b.Source != exp {
		t.Errorf("store %+v\nsafetensors %+v", a, b)
	}
}
