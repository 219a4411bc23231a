package model

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/fsl-project/fsl/params"
)

func TestLayoutNamesShapesAndCount(t *testing.T) {
	cases := []struct {
		cfg       Config
		params    int
		embed     int
		lastEntry string
	}{
		// 576 + 3·36,864 conv weights, 4·128 batch-norm gamma/beta
		{Config{Loss: params.KindTriplets}, 111680, 64, "bn4.beta [64]"},
		{Config{Loss: params.KindEpisode}, 111680, 64, "bn4.beta [64]"},
		{Config{Loss: params.KindPairs}, 111680 + 65, 64, "head.b [1]"},
		{Config{Loss: params.KindPairs, Size: 105}, 111680 + 2304 + 1, 2304, "head.b [1]"},
		{Config{Loss: params.KindTriplets, Size: 16, Filters: 8}, 72 + 3*576 + 4*16, 8, "bn4.beta [8]"},
	}
	for _, tc := range cases {
		m := mustNew(t, tc.cfg)
		l := m.Layout()
		if got := l.Size(); got != tc.params || m.NumParams() != tc.params {
			t.Errorf("%+v: %d parameters, want %d", tc.cfg, got, tc.params)
		}
		if m.EmbedDim() != tc.embed {
			t.Errorf("%+v: EmbedDim %d, want %d", tc.cfg, m.EmbedDim(), tc.embed)
		}
		last := l.Entries[len(l.Entries)-1]
		if got := fmt.Sprintf("%s %v", last.Name, last.Shape); got != tc.lastEntry {
			t.Errorf("%+v: last entry %q, want %q", tc.cfg, got, tc.lastEntry)
		}
		if first := l.Entries[0]; fmt.Sprintf("%s %v", first.Name, first.Shape) != fmt.Sprintf("conv1.w [%d 1 3 3]", m.Config().Filters) {
			t.Errorf("%+v: first entry %s %v", tc.cfg, first.Name, first.Shape)
		}
		if s := m.StateLayout(); s.Size() != 8*m.Config().Filters || s.Entries[1].Name != "bn1.var" {
			t.Errorf("%+v: state layout %+v", tc.cfg, s)
		}
	}
}

func TestGradRejectsBatchesTooLargeForMemory(t *testing.T) {
	m := mustNew(t, Config{Loss: params.KindTriplets, Size: 512, Filters: 1024})
	p, s := m.Init(1)
	b := &params.Batch{Kind: params.KindTriplets, Size: 512, Labels: []int32{0, 0, 1}, Pixels: make([]uint8, 3*512*512)}
	if _, err := m.Grad(p, s, b); !errors.Is(err, ErrBatch) || !strings.Contains(err.Error(), "activations") {
		t.Fatalf("error %v, want ErrBatch about activations", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Size: 15}, {Size: 4}, {Size: MaxSize + 1}, {Filters: -1}, {Filters: MaxFilters + 1},
		{Margin: -1}, {Loss: params.Kind(9)},
		{Temperature: 0.1}, // without Matching
		{Matching: true, Temperature: 0.01}, {Matching: true, Temperature: -1}, {Matching: true, Temperature: 101},
	} {
		if _, err := New(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("New(%+v): error %v, want ErrConfig", cfg, err)
		}
	}
	m := mustNew(t, Config{})
	if c := m.Config(); c.Loss != params.KindEpisode || c.Size != 28 || c.Filters != 64 || c.Margin != DefaultMargin {
		t.Errorf("zero Config became %+v", c)
	}
}

func TestInitIsAPureFunctionOfTheSeed(t *testing.T) {
	m := mustNew(t, Config{Loss: params.KindPairs})
	p1, s1 := m.Init(42)
	p2, s2 := m.Init(42)
	p3, _ := m.Init(43)
	if hashOf(p1) != hashOf(p2) || hashOf(s1) != hashOf(s2) {
		t.Fatal("same seed gave different vectors")
	}
	if hashOf(p1) == hashOf(p3) {
		t.Fatal("different seeds gave the same parameters")
	}
	l := m.Layout()
	for _, e := range l.Entries {
		v := p1[e.Offset : e.Offset+e.Size()]
		var sum, sq float64
		for _, x := range v {
			sum += float64(x)
			sq += float64(x) * float64(x)
		}
		std := math.Sqrt(sq / float64(len(v)))
		switch {
		case strings.HasSuffix(e.Name, ".gamma"):
			if sum != float64(len(v)) {
				t.Errorf("%s not all 1", e.Name)
			}
		case strings.HasSuffix(e.Name, ".beta"), e.Name == "head.b":
			if sq != 0 {
				t.Errorf("%s not all 0", e.Name)
			}
		case strings.HasPrefix(e.Name, "conv") && len(v) > 1000:
			want := math.Sqrt(2 / float64(e.Shape[1]*9))
			if math.Abs(std-want) > 0.05*want {
				t.Errorf("%s: std %.4f, want He %.4f", e.Name, std, want)
			}
		}
	}
	for _, e := range m.StateLayout().Entries {
		want := float32(0)
		if strings.HasSuffix(e.Name, ".var") {
			want = 1
		}
		for _, x := range s1[e.Offset : e.Offset+e.Size()] {
			if x != want {
				t.Fatalf("%s holds %v, want %v", e.Name, x, want)
			}
		}
	}
}

func hashOf(vs ...params.Vector) string {
	h := sha256.New()
	var b [4]byte
	for _, v := range vs {
		for _, x := range v {
			binary.LittleEndian.PutUint32(b[:], math.Float32bits(x))
			h.Write(b[:])
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// determinismHash computes Grad on fixed inputs at 28×28 with 64 filters
// and returns the sha256 of gradients, statistics and loss.
func determinismHash(t *testing.T) string {
	m := mustNew(t, Config{Loss: params.KindTriplets})
	p, s := m.Init(5)
	r, err := m.Grad(p, s, synthBatch(params.KindTriplets, 28, 4, 5))
	if err != nil {
		t.Fatal(err)
	}
	return hashOf(r.Grads, r.Stats, params.Vector{float32(r.Loss)})
}

const childEnv = "FSL_MODEL_DETERMINISM_CHILD"

func TestGradBitwiseIdenticalAcrossRunsAndProcesses(t *testing.T) {
	h1 := determinismHash(t)
	if os.Getenv(childEnv) == "1" {
		fmt.Printf("gradhash=%s\n", h1)
		return
	}
	if h2 := determinismHash(t); h1 != h2 {
		t.Fatalf("two runs in one process differ: %s vs %s", h1, h2)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestGradBitwiseIdenticalAcrossRunsAndProcesses$")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child process: %v\n%s", err, out)
	}
	_, after, ok := strings.Cut(string(out), "gradhash=")
	if !ok {
		t.Fatalf("child printed no hash:\n%s", out)
	}
	if h3 := strings.Fields(after)[0]; h3 != h1 {
		t.Fatalf("child process hash %s, parent %s", h3, h1)
	}
}

func TestGradRejectsBadInput(t *testing.T) {
	tri := mustNew(t, Config{Loss: params.KindTriplets, Size: 16, Filters: 4})
	pairs := mustNew(t, Config{Loss: params.KindPairs, Size: 16, Filters: 4})
	proto := mustNew(t, Config{Loss: params.KindEpisode, Size: 16, Filters: 4})
	tp, ts := tri.Init(1)
	pp, ps := pairs.Init(1)
	ep, es := proto.Init(1)
	nan := append(params.Vector(nil), tp...)
	nan[7] = float32(math.NaN())

	good := func() *params.Batch { return synthBatch(params.KindTriplets, 16, 2, 1) }
	mod := func(f func(b *params.Batch)) *params.Batch { b := good(); f(b); return b }
	oddPairs := synthBatch(params.KindPairs, 16, 2, 1)
	oddPairs.Labels, oddPairs.Pixels = oddPairs.Labels[:3], oddPairs.Pixels[:3*256]
	wrongSame := synthBatch(params.KindPairs, 16, 2, 1)
	wrongSame.Same[0] = 0
	badEp := synthEpisode(16, 2, 1, 1, 1)
	badEp.Way = 3
	badSupport := synthEpisode(16, 2, 2, 1, 1)
	badSupport.Labels[1] = 1
	badQuery := synthEpisode(16, 2, 1, 1, 1)
	badQuery.Labels[3] = 5

	cases := []struct {
		name string
		m    *Model
		p, s params.Vector
		b    *params.Batch
		want error
	}{
		{"short parameters", tri, tp[1:], ts, good(), ErrParams},
		{"NaN parameter", tri, nan, ts, good(), ErrParams},
		{"short state", tri, tp, ts[:3], good(), ErrParams},
		{"siamese params for triplet model", tri, pp, ts, good(), ErrParams},
		{"nil batch", tri, tp, ts, nil, ErrBatch},
		{"wrong kind", tri, tp, ts, mod(func(b *params.Batch) { b.Kind = params.KindPairs }), ErrBatch},
		{"wrong size", tri, tp, ts, mod(func(b *params.Batch) { b.Size = 28 }), ErrBatch},
		{"short pixels", tri, tp, ts, mod(func(b *params.Batch) { b.Pixels = b.Pixels[:10] }), ErrBatch},
		{"no images", tri, tp, ts, &params.Batch{Kind: params.KindTriplets, Size: 16}, ErrBatch},
		{"too many images", tri, tp, ts, synthBatch(params.KindTriplets, 16, maxBatchImages/3+1, 1), ErrBatch},
		{"partial triplet", tri, tp, ts, mod(func(b *params.Batch) { b.Labels = b.Labels[:5]; b.Pixels = b.Pixels[:5*256] }), ErrBatch},
		{"negative of anchor's class", tri, tp, ts, mod(func(b *params.Batch) { b.Labels[2] = b.Labels[0] }), ErrBatch},
		{"odd images for pairs", pairs, pp, ps, oddPairs, ErrBatch},
		{"Same contradicts labels", pairs, pp, ps, wrongSame, ErrBatch},
		{"episode shape", proto, ep, es, badEp, ErrBatch},
		{"support not class by class", proto, ep, es, badSupport, ErrBatch},
		{"query label out of range", proto, ep, es, badQuery, ErrBatch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.m.Grad(tc.p, tc.s, tc.b)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
}

func TestGradResultShapesAndCounts(t *testing.T) {
	cases := []struct {
		cfg   Config
		b     *params.Batch
		count int
	}{
		{Config{Loss: params.KindTriplets, Size: 16, Filters: 4}, synthBatch(params.KindTriplets, 16, 3, 2), 3},
		{Config{Loss: params.KindPairs, Size: 16, Filters: 4}, synthBatch(params.KindPairs, 16, 4, 2), 4},
		{Config{Loss: params.KindEpisode, Size: 16, Filters: 4}, synthEpisode(16, 3, 2, 2, 2), 6},
		{Config{Loss: params.KindTriplets, Size: 105, Filters: 4}, synthBatch(params.KindTriplets, 105, 1, 2), 1},
		{Config{Loss: params.KindPairs, Size: 23, Filters: 4}, synthBatch(params.KindPairs, 23, 2, 2), 2}, // odd sides: floor pooling
		// each image's three planes are the first conv's three input channels
		{Config{Loss: params.KindEpisode, Size: 16, Filters: 4, Channels: params.RGB}, inColour(synthEpisode(16, 3, 2, 2, 2), params.RGB, 2), 6},
		{Config{Loss: params.KindPairs, Size: 84, Filters: 4, Channels: params.RGB}, inColour(synthBatch(params.KindPairs, 84, 2, 2), params.RGB, 3), 2},
	}
	for _, tc := range cases {
		m := mustNew(t, tc.cfg)
		p, s := m.Init(2)
		r, err := m.Grad(p, s, tc.b)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Grads) != len(p) || len(r.Stats) != len(s) || r.Count != tc.count {
			t.Errorf("%s: grads %d/%d stats %d/%d count %d/%d", tc.cfg.Loss,
				len(r.Grads), len(p), len(r.Stats), len(s), r.Count, tc.count)
		}
		if !(r.Loss > 0) {
			t.Errorf("%s: loss %v, want > 0 at initialisation", tc.cfg.Loss, r.Loss)
		}
		// batch-norm 1 sees the raw convolution of pixels/255: check its
		// statistics against a direct computation for channel 0
		mean0, var0 := conv1Stats(p, tc.b, m.Config().Filters)
		if math.Abs(float64(r.Stats[0])-mean0) > 1e-5*math.Max(1, math.Abs(mean0)) {
			t.Errorf("%s: bn1.mean[0] %v, want %v", tc.cfg.Loss, r.Stats[0], mean0)
		}
		f := m.Config().Filters
		if math.Abs(float64(r.Stats[f])-var0) > 1e-4*var0 {
			t.Errorf("%s: bn1.var[0] %v, want unbiased %v", tc.cfg.Loss, r.Stats[f], var0)
		}
	}
}

// conv1Stats computes the mean and unbiased variance of channel 0 of the
// first convolution directly, over every plane of b's images (filter 0's
// weights are p[:planes·9], [C 3 3]).
func conv1Stats(p params.Vector, b *params.Batch, filters int) (mean, variance float64) {
	s := b.Size
	var vals []float64
	for n := 0; n < b.Images(); n++ {
		img := b.Image(n)
		for y := 0; y < s; y++ {
			for x := 0; x < s; x++ {
				var acc float64
				for ch := 0; ch < b.Planes(); ch++ {
					for ky := 0; ky < 3; ky++ {
						for kx := 0; kx < 3; kx++ {
							yy, xx := y+ky-1, x+kx-1
							if yy < 0 || xx < 0 || yy >= s || xx >= s {
								continue
							}
							acc += float64(p[ch*9+ky*3+kx]) * float64(img[ch*s*s+yy*s+xx]) / 255
						}
					}
				}
				vals = append(vals, acc)
			}
		}
	}
	for _, v := range vals {
		mean += v
	}
	mean /= float64(len(vals))
	for _, v := range vals {
		variance += (v - mean) * (v - mean)
	}
	return mean, variance / float64(len(vals)-1)
}

func TestEmbedIsPerImageAndChecksInput(t *testing.T) {
	m := mustNew(t, Config{Loss: params.KindPairs, Size: 16, Filters: 4})
	p, s := m.Init(9)
	b := synthBatch(params.KindPairs, 16, 35, 9) // 70 images: two chunks
	d := m.EmbedDim()
	all, err := m.Embed(p, s, b.Pixels, 70)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 70*d {
		t.Fatalf("%d values, want %d", len(all), 70*d)
	}
	one, err := m.Embed(p, s, b.Image(0), 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range one {
		if one[i] != all[i] {
			t.Fatalf("image 0 embeds differently alone (%v) and in a batch (%v)", one, all[:d])
		}
	}
	var nonzero int
	for _, x := range all {
		if x < 0 {
			t.Fatalf("embedding value %v < 0 after ReLU and max-pooling", x)
		}
		if x > 0 {
			nonzero++
		}
	}
	if nonzero == 0 {
		t.Fatal("all embeddings are zero")
	}
	score, err := m.PairScore(p, all[:d], all[d:2*d])
	if err != nil || !(score > 0 && score < 1) {
		t.Fatalf("PairScore = %v, %v; want a probability", score, err)
	}
	if same, _ := m.PairScore(p, all[:d], all[:d]); math.Abs(float64(same)-0.5) > 1e-6 {
		// head.b starts at 0 and |e−e| = 0, so the logit is 0
		t.Fatalf("PairScore(e, e) = %v at init, want 0.5", same)
	}

	negVar := append(params.Vector(nil), s...)
	negVar[m.Config().Filters] = -1
	bad := []struct {
		name   string
		p, s   params.Vector
		pixels []uint8
		n      int
		want   error
	}{
		{"zero images", p, s, nil, 0, ErrBatch},
		{"pixels short", p, s, b.Pixels[:100], 1, ErrBatch},
		{"negative variance", p, negVar, b.Image(0), 1, ErrParams},
		{"short params", p[:10], s, b.Image(0), 1, ErrParams},
	}
	for _, tc := range bad {
		if _, err := m.Embed(tc.p, tc.s, tc.pixels, tc.n); !errors.Is(err, tc.want) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := m.PairScore(p, all[:d-1], all[:d]); !errors.Is(err, ErrBatch) {
		t.Errorf("PairScore with short embedding: %v", err)
	}
	tri := mustNew(t, Config{Loss: params.KindTriplets, Size: 16, Filters: 4})
	if _, err := tri.PairScore(p, all[:d], all[:d]); !errors.Is(err, ErrParams) {
		t.Errorf("PairScore on a triplet model: %v", err)
	}
}

func TestEmbedWithBatchStatisticsMatchesTraining(t *testing.T) {
	// With running statistics equal to one batch's own statistics, the
	// evaluation path computes what training computed; the triplet loss
	// recomputed from Embed must then equal Grad's loss.
	m := mustNew(t, Config{Loss: params.KindTriplets, Size: 16, Filters: 4, Margin: 2})
	p, _ := m.Init(4)
	b := synthBatch(params.KindTriplets, 16, 5, 4)
	s0 := make(params.Vector, m.StateLayout().Size())
	r, err := m.Grad(p, s0, b)
	if err != nil {
		t.Fatal(err)
	}
	// Stats hold unbiased variances; evaluation must use the biased ones
	state := append(params.Vector(nil), r.Stats...)
	f := m.Config().Filters
	in, _ := sides(16)
	for blk := 0; blk < 4; blk++ {
		cnt := float32(b.Images() * in[blk] * in[blk])
		for c := 0; c < f; c++ {
			state[(2*blk+1)*f+c] *= (cnt - 1) / cnt
		}
	}
	e, err := m.Embed(p, state, b.Pixels, b.Images())
	if err != nil {
		t.Fatal(err)
	}
	d := m.EmbedDim()
	var loss float64
	for t3 := 0; t3 < 5; t3++ {
		a, pos, neg := e[3*t3*d:], e[(3*t3+1)*d:], e[(3*t3+2)*d:]
		var dap, dan float64
		for i := 0; i < d; i++ {
			dap += math.Pow(float64(a[i]-pos[i]), 2)
			dan += math.Pow(float64(a[i]-neg[i]), 2)
		}
		loss += math.Max(0, dap-dan+2)
	}
	loss /= 5
	if math.Abs(loss-r.Loss) > 1e-4*math.Max(1, r.Loss) {
		t.Fatalf("loss from Embed %v, Grad's loss %v", loss, r.Loss)
	}
}

func TestConcurrentCallsAgree(t *testing.T) {
	m := mustNew(t, Config{Loss: params.KindEpisode, Size: 16, Filters: 4})
	p, s := m.Init(1)
	b1 := synthEpisode(16, 2, 1, 2, 1)
	b2 := synthEpisode(16, 3, 1, 1, 2) // another shape, another graph
	want1, err := m.Grad(p, s, b1)
	if err != nil {
		t.Fatal(err)
	}
	want2, err := m.Grad(p, s, b2)
	if err != nil {
		t.Fatal(err)
	}
	wantE, err := m.Embed(p, s, b1.Pixels, b1.Images())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 12)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2; i++ {
				r1, err := m.Grad(p, s, b1)
				if err != nil || hashOf(r1.Grads) != hashOf(want1.Grads) {
					errs <- fmt.Errorf("concurrent Grad (shape 1) differs: %v", err)
				}
				r2, err := m.Grad(p, s, b2)
				if err != nil || hashOf(r2.Grads) != hashOf(want2.Grads) {
					errs <- fmt.Errorf("concurrent Grad (shape 2) differs: %v", err)
				}
				e, err := m.Embed(p, s, b1.Pixels, b1.Images())
				if err != nil || hashOf(e) != hashOf(wantE) {
					errs <- fmt.Errorf("concurrent Embed differs: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestGradAndEmbedSameBitsForAnyThreadCount(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   Config
		batch *params.Batch
	}{
		{"triplets", Config{Loss: params.KindTriplets}, synthBatch(params.KindTriplets, 28, 20, 3)},
		{"pairs", Config{Loss: params.KindPairs}, synthBatch(params.KindPairs, 28, 30, 3)},
		{"episode", Config{Loss: params.KindEpisode}, synthEpisode(28, 5, 1, 11, 3)},
		{"matching", Config{Loss: params.KindEpisode, Matching: true}, synthEpisode(28, 5, 1, 11, 3)},
		{"matching at temperature 0.1", Config{Loss: params.KindEpisode, Matching: true, Temperature: 0.1}, synthEpisode(28, 5, 1, 11, 3)},
		{"batch-hard", Config{Loss: params.KindClasses}, synthClasses(28, 15, 4, 3)},
		{"semi-hard", Config{Loss: params.KindClasses, Mining: MiningSemiHard}, synthClasses(28, 15, 4, 3)},
		// the RGB first layer (im2col over 27 patch rows) at two sizes
		{"episode RGB", Config{Loss: params.KindEpisode, Channels: params.RGB}, inColour(synthEpisode(28, 5, 1, 11, 3), params.RGB, 3)},
		{"triplets RGB 84x84", Config{Loss: params.KindTriplets, Size: 84, Filters: 16, Channels: params.RGB},
			inColour(synthBatch(params.KindTriplets, 84, 4, 3), params.RGB, 4)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, s := mustNew(t, tc.cfg).Init(9)
			var want string
			for _, n := range []int{1, 2, 3, 5} {
				m := mustNew(t, tc.cfg, Threads(n))
				r, err := m.Grad(p, s, tc.batch)
				if err != nil {
					t.Fatal(err)
				}
				e, err := m.Embed(p, s, tc.batch.Pixels, tc.batch.Images())
				if err != nil {
					t.Fatal(err)
				}
				got := hashOf(r.Grads, r.Stats, params.Vector{float32(r.Loss)}, params.Vector(e))
				if n == 1 {
					want = got
				} else if got != want {
					t.Fatalf("%d threads: hash %s, 1 thread: %s", n, got, want)
				}
			}
		})
	}
}
