package episodes

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/fsl-project/fsl/params"
)

// testDataset builds classes × perClass distinct images of size×size where
// image k of class c has every pixel c*perClass+k+1 (mod 256), drawers
// 1..perClass.
func testDataset(t testing.TB, classes, perClass, size int) *Dataset {
	t.Helper()
	n := size * size
	pix := make([]uint8, classes*perClass*n)
	drawers := make([]int32, classes*perClass)
	cls := make([]Class, classes)
	for c := range cls {
		cls[c] = Class{Name: fmt.Sprintf("g%d/c%02d", c%3, c), Group: fmt.Sprintf("g%d", c%3), First: c * perClass, Count: perClass}
		for k := 0; k < perClass; k++ {
			i := c*perClass + k
			drawers[i] = int32(k + 1)
			for j := 0; j < n; j++ {
				pix[i*n+j] = uint8(i + 1)
			}
		}
	}
	ds, err := NewDataset("test", size, 1, cls, pix, nil, drawers)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func batchHash(b *params.Batch) string {
	h := sha256.New()
	fmt.Fprintf(h, "%d %d %d %d %d %v %v|", b.Kind, b.Size, b.Way, b.Shot, b.Query, b.Labels, b.Same)
	h.Write(b.Pixels)
	return hex.EncodeToString(h.Sum(nil))
}

var determinismConfigs = []SamplerConfig{
	{Kind: params.KindEpisode, Way: 20, Shot: 1, Query: 2},
	{Kind: params.KindPairs, Pairs: 30},
	{Kind: params.KindTriplets, Triplets: 20},
	{Kind: params.KindClasses, Classes: 8, PerClass: 4},
}

// childBatchHashes is what both the parent and the re-executed child print.
func childBatchHashes(t testing.TB) string {
	ds, err := Glyphs(GlyphsConfig{Alphabets: 4, Characters: 10, Drawers: 20})
	if err != nil {
		t.Fatal(err)
	}
	rot, err := Select(ds, Options{Rotations: true})
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	fmt.Fprintln(&sb, ds.Fingerprint())
	for _, cfg := range determinismConfigs {
		s, err := NewSampler(rot, cfg)
		if err != nil {
			t.Fatal(err)
		}
		for shard := 0; shard < 3; shard++ {
			fmt.Fprintln(&sb, batchHash(s.Batch(42, 7, shard)))
		}
	}
	return sb.String()
}

func TestBatchIsPureAcrossCallsGoroutinesAndProcesses(t *testing.T) {
	if os.Getenv("FSL_EPISODES_CHILD") == "1" {
		fmt.Print("HASHES\n" + childBatchHashes(t) + "END\n")
		return
	}
	want := childBatchHashes(t)
	if again := childBatchHashes(t); again != want {
		t.Fatalf("second call differs:\n%s\n%s", want, again)
	}
	// Goroutines.
	var wg sync.WaitGroup
	got := make([]string, 4)
	for g := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[g] = childBatchHashes(t)
		}()
	}
	wg.Wait()
	for g, h := range got {
		if h != want {
			t.Errorf("goroutine %d differs", g)
		}
	}
	// Another process.
	cmd := exec.Command(os.Args[0], "-test.run=^TestBatchIsPureAcrossCallsGoroutinesAndProcesses$", "-test.count=1")
	cmd.Env = append(os.Environ(), "FSL_EPISODES_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	s := string(out)
	i, j := strings.Index(s, "HASHES\n"), strings.Index(s, "END\n")
	if i < 0 || j < i {
		t.Fatalf("child output lacks hashes:\n%s", s)
	}
	if child := s[i+len("HASHES\n") : j]; child != want {
		t.Errorf("child process differs:\nparent %s\nchild  %s", want, child)
	}
	// Different shards and steps of one seed differ.
	lines := strings.Fields(want)[1:]
	seen := map[string]bool{}
	for _, l := range lines {
		if seen[l] {
			t.Errorf("two shards gave the same batch %s", l)
		}
		seen[l] = true
	}
}

func TestBatchesDifferAcrossShardsStepsAndSeeds(t *testing.T) {
	ds := testDataset(t, 30, 10, 2)
	s, err := NewSampler(ds, SamplerConfig{Kind: params.KindEpisode, Way: 5, Shot: 1, Query: 1})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, k := range [][3]int{{1, 0, 0}, {1, 0, 1}, {1, 1, 0}, {2, 0, 0}, {1, -1, 0}} {
		h := batchHash(s.Batch(uint64(k[0]), k[1], k[2]))
		if prev, ok := seen[h]; ok {
			t.Errorf("seed/step/shard %v repeats %s", k, prev)
		}
		seen[h] = fmt.Sprint(k)
	}
	ev, err := NewEvalSampler(ds, 5, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if batchHash(ev.Episode(1, 0)) == batchHash(s.Batch(1, 0, 0)) {
		t.Error("evaluation episode 0 equals training batch (1, 0, 0)")
	}
	if batchHash(ev.Episode(1, 3)) != batchHash(ev.Episode(1, 3)) {
		t.Error("evaluation episode not reproducible")
	}
}

func TestEpisodeHasDistinctClassesAndImagesInLayout(t *testing.T) {
	ds := testDataset(t, 12, 8, 2)
	cfg := SamplerConfig{Kind: params.KindEpisode, Way: 5, Shot: 2, Query: 3}
	s, err := NewSampler(ds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for step := 0; step < 200; step++ {
		b := s.Batch(9, step, 0)
		if b.Images() != cfg.Images() || b.Way != 5 || b.Shot != 2 || b.Query != 3 || len(b.Pixels) != 25*4 {
			t.Fatalf("batch shape %d images way %d shot %d query %d", b.Images(), b.Way, b.Shot, b.Query)
		}
		classOf := map[int32]uint8{} // episode label -> dataset class
		imgs := map[uint8]bool{}
		for i := 0; i < b.Images(); i++ {
			want := int32(i / cfg.Shot)
			if i >= cfg.Way*cfg.Shot {
				want = int32((i - cfg.Way*cfg.Shot) / cfg.Query)
			}
			if b.Labels[i] != want {
				t.Fatalf("image %d label %d, want %d", i, b.Labels[i], want)
			}
			v := b.Image(i)[0] // image id + 1
			dsClass := uint8((int(v) - 1) / 8)
			if c, ok := classOf[want]; ok && c != dsClass {
				t.Fatalf("label %d mixes dataset classes %d and %d", want, c, dsClass)
			}
			classOf[want] = dsClass
			if imgs[v] {
				t.Fatalf("step %d: image %d appears twice", step, v)
			}
			imgs[v] = true
		}
		distinct := map[uint8]bool{}
		for _, c := range classOf {
			distinct[c] = true
		}
		if len(distinct) != cfg.Way {
			t.Fatalf("step %d: %d distinct classes, want %d", step, len(distinct), cfg.Way)
		}
	}
}

func TestClassesBatchIsPClassesOfKDistinctImages(t *testing.T) {
	ds := testDataset(t, 12, 8, 2)
	cfg := SamplerConfig{Kind: params.KindClasses, Classes: 5, PerClass: 3}
	s, err := NewSampler(ds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for step := 0; step < 200; step++ {
		b := s.Batch(9, step, 1)
		if b.Kind != params.KindClasses || b.Images() != 15 || len(b.Pixels) != 15*4 {
			t.Fatalf("batch kind %s, %d images, %d pixel bytes; want classes, 15, 60", b.Kind, b.Images(), len(b.Pixels))
		}
		classes := map[int32]bool{}
		imgs := map[uint8]bool{}
		for i := 0; i < b.Images(); i++ {
			v := b.Image(i)[0] // testDataset: image k of class c is c*8+k+1
			if l := b.Labels[i]; l != int32((int(v)-1)/8) || l != b.Labels[i/3*3] {
				t.Fatalf("step %d: image %d (dataset image %d) has label %d; want its class, as the run's first image", step, i, v-1, l)
			}
			if imgs[v] {
				t.Fatalf("step %d: image %d appears twice", step, v-1)
			}
			imgs[v] = true
			classes[b.Labels[i]] = true
		}
		if len(classes) != cfg.Classes {
			t.Fatalf("step %d: %d distinct classes, want %d", step, len(classes), cfg.Classes)
		}
	}
	for _, bad := range []SamplerConfig{
		{Kind: params.KindClasses, Classes: 1, PerClass: 4},
		{Kind: params.KindClasses, Classes: 4, PerClass: 1},
		{Kind: params.KindClasses, Classes: 13, PerClass: 2},
		{Kind: params.KindClasses, Classes: 2, PerClass: 9},
	} {
		if _, err := NewSampler(ds, bad); err == nil {
			t.Errorf("NewSampler(%+v) accepted a batch the dataset cannot fill", bad)
		}
	}
}

func TestClassFrequenciesAreUniform(t *testing.T) {
	// 4 classes and 10,000 draws: a uniform sampler lands within 5% of the
	// mean with a margin of about 3 standard deviations or more.
	const classes, draws = 4, 10000
	ds := testDataset(t, classes, 4, 1)
	for _, cfg := range []SamplerConfig{
		{Kind: params.KindEpisode, Way: 2, Shot: 1, Query: 1},
		{Kind: params.KindPairs, Pairs: 2},
		{Kind: params.KindTriplets, Triplets: 1},
		{Kind: params.KindClasses, Classes: 2, PerClass: 2},
	} {
		t.Run(cfg.Kind.String(), func(t *testing.T) {
			s, err := NewSampler(ds, cfg)
			if err != nil {
				t.Fatal(err)
			}
			counts := make([]int, classes)
			total := 0
			for i := 0; i < draws; i++ {
				p := s.plan(newRNG(domainTrain, 5, uint64(i), 0))
				for k, rf := range p.refs {
					if cfg.Kind == params.KindEpisode && k >= cfg.Way*cfg.Shot {
						break // count each episode class once, by its support image
					}
					if cfg.Kind == params.KindTriplets && k%3 == 1 {
						continue // the positive repeats the anchor's class
					}
					if cfg.Kind == params.KindClasses && k%cfg.PerClass != 0 {
						continue // count each class once, by its first image
					}
					counts[rf.class]++
					total++
				}
			}
			want := float64(total) / classes
			for c, n := range counts {
				if math.Abs(float64(n)-want) > 0.05*want {
					t.Errorf("class %d drawn %d times, want %.0f ± 5%%", c, n, want)
				}
			}
		})
	}
}

func TestPairsAreBalancedFromDifferentDrawers(t *testing.T) {
	// Two images of each class share drawer 1: a same pair must avoid them.
	ds := testDataset(t, 6, 4, 1)
	for c := range ds.Classes {
		ds.drawers[c*4+1] = 1
	}
	s, err := NewSampler(ds, SamplerConfig{Kind: params.KindPairs, Pairs: 30})
	if err != nil {
		t.Fatal(err)
	}
	for step := 0; step < 300; step++ {
		b := s.Batch(3, step, 1)
		same := 0
		for i, v := range b.Same {
			a, c := int(b.Image(2 * i)[0]-1), int(b.Image(2*i + 1)[0]-1)
			if (v == 1) != (a/4 == c/4) || int32(a/4) != b.Labels[2*i] || int32(c/4) != b.Labels[2*i+1] {
				t.Fatalf("pair %d: Same=%d but images %d and %d (labels %d %d)", i, v, a, c, b.Labels[2*i], b.Labels[2*i+1])
			}
			if v == 1 {
				same++
				if a == c || ds.drawers[a] == ds.drawers[c] {
					t.Fatalf("same pair %d: images %d and %d, drawers %d and %d", i, a, c, ds.drawers[a], ds.drawers[c])
				}
			}
		}
		if same != 15 {
			t.Fatalf("step %d: %d same pairs of 30", step, same)
		}
	}
}

func TestTripletsHaveDistinctPositiveAndForeignNegative(t *testing.T) {
	ds := testDataset(t, 4, 3, 1)
	s, err := NewSampler(ds, SamplerConfig{Kind: params.KindTriplets, Triplets: 20})
	if err != nil {
		t.Fatal(err)
	}
	for step := 0; step < 300; step++ {
		b := s.Batch(11, step, 2)
		for i := 0; i < 20; i++ {
			a, p, n := int(b.Image(3 * i)[0]-1), int(b.Image(3*i + 1)[0]-1), int(b.Image(3*i + 2)[0]-1)
			if a == p || a/3 != p/3 || a/3 == n/3 {
				t.Fatalf("triplet %d: anchor %d positive %d negative %d", i, a, p, n)
			}
		}
	}
}

func TestRotatedClassesAreRotatedImages(t *testing.T) {
	const size = 3
	pix := []uint8{1, 2, 3, 4, 5, 6, 7, 8, 9}
	ds, err := NewDataset("r", size, 1, []Class{{Name: "a", Count: 1}}, pix, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rot, err := Select(ds, Options{Rotations: true})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]uint8{
		{1, 2, 3, 4, 5, 6, 7, 8, 9},
		{3, 6, 9, 2, 5, 8, 1, 4, 7}, // 90° counterclockwise
		{9, 8, 7, 6, 5, 4, 3, 2, 1},
		{7, 4, 1, 8, 5, 2, 9, 6, 3},
	}
	for c, w := range want {
		got := make([]uint8, size*size)
		rot.ClassImage(c, 0, got)
		if fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("class %s: %v, want %v", rot.Classes[c].Name, got, w)
		}
	}
}

func TestValidationSplitHoldsOutWholeGroups(t *testing.T) {
	ds, err := Glyphs(GlyphsConfig{Alphabets: 10, Characters: 3, Drawers: 2, Size: 8})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := Select(ds, Options{Split: "train", ValSeed: 4})
	if err != nil {
		t.Fatal(err)
	}
	va, err := Select(ds, Options{Split: "val", ValSeed: 4})
	if err != nil {
		t.Fatal(err)
	}
	va2, _ := Select(ds, Options{Split: "val", ValSeed: 4})
	te, _ := Select(ds, Options{Split: "test"})
	if len(tr.Classes)+len(va.Classes) != 6*3 || len(te.Classes) != 4*3 || len(va.Groups()) != 1 {
		t.Fatalf("train %d val %d (groups %v) test %d classes", len(tr.Classes), len(va.Classes), va.Groups(), len(te.Classes))
	}
	if fmt.Sprint(va.Groups()) != fmt.Sprint(va2.Groups()) {
		t.Error("validation groups not deterministic")
	}
	for _, g := range tr.Groups() {
		for _, v := range va.Groups() {
			if g == v {
				t.Errorf("group %s in both train and val", g)
			}
		}
	}
	fixed, err := Select(ds, Options{Split: "val", ValGroups: []string{"alphabet02", "alphabet03"}})
	if err != nil || fmt.Sprint(fixed.Groups()) != "[alphabet02 alphabet03]" {
		t.Errorf("fixed groups: %v %v", fixed, err)
	}
	if _, err := Select(ds, Options{Split: "val", ValGroups: []string{"alphabet09"}}); err == nil {
		t.Error("an evaluation alphabet accepted as validation group")
	}
}
