package episodes

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fsl-project/fsl/params"
)

// TestOmniglotRealCounts is acceptance point 1 on the shared Omniglot copy.
func TestOmniglotRealCounts(t *testing.T) {
	dir := omniglotDir(t)
	if raceEnabled || testing.Short() {
		t.Skip("decoding 32,460 PNGs twice is too slow under -race or -short; run go test ./episodes without them")
	}
	ds, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(ds.Classes); got != 964+659 {
		t.Fatalf("classes: got %d, want 1623", got)
	}
	for _, c := range ds.Classes {
		if c.Count != 20 {
			t.Fatalf("class %q has %d images, want 20", c.Name, c.Count)
		}
	}
	for _, tc := range []struct {
		split              string
		classes, alphabets int
	}{{"background", 964, 30}, {"evaluation", 659, 20}, {"vinyals-train", 1200, -1}, {"vinyals-test", 423, -1}} {
		sub, err := Select(ds, Options{Split: tc.split})
		if err != nil {
			t.Fatal(err)
		}
		if len(sub.Classes) != tc.classes || (tc.alphabets >= 0 && len(sub.Groups()) != tc.alphabets) {
			t.Errorf("split %s: %d classes, %d alphabets; want %d, %d", tc.split, len(sub.Classes), len(sub.Groups()), tc.classes, tc.alphabets)
		}
	}
	// The Vinyals lists beside the zips: both zips merged, each class at
	// its listed rotation; train and test share no character.
	lists := map[string]*ClassList{}
	for name, want := range map[string]int{"train": 4112, "val": 688, "trainval": 4800, "test": 1692} {
		o := Options{Split: "vinyals/" + name}
		if err := o.ReadList(dir); err != nil {
			t.Fatal(err)
		}
		sub, err := Select(ds, o)
		if err != nil {
			t.Fatal(err)
		}
		if len(sub.Classes) != want || sub.Classes[1].Rotation != 1 || sub.Classes[1].Name != sub.Classes[0].Name+"/rot90" {
			t.Errorf("vinyals/%s: %d classes (want %d), second %+v", name, len(sub.Classes), want, sub.Classes[1])
		}
		lists[name] = o.List
	}
	for _, pair := range [][2]string{{"train", "test"}, {"trainval", "test"}, {"train", "val"}} {
		if err := CheckDisjoint(lists[pair[0]], lists[pair[1]]); err != nil {
			t.Errorf("%s and %s: %v", pair[0], pair[1], err)
		}
	}
	if err := CheckDisjoint(lists["trainval"], lists["val"]); err == nil {
		t.Error("trainval and val share characters, but CheckDisjoint says nothing")
	}
	rot, err := Select(ds, Options{Split: "background", Rotations: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rot.Classes) != 3856 {
		t.Errorf("rotated background: %d classes, want 3856", len(rot.Classes))
	}
	// Strokes are bright: Omniglot is mostly background, so the mean pixel
	// must be small after inversion.
	var sum int
	for i := 0; i < 100; i++ {
		for _, v := range ds.Image(i) {
			sum += int(v)
		}
	}
	if mean := float64(sum) / float64(100*28*28); mean > 80 {
		t.Errorf("mean pixel %.1f: strokes are not inverted to bright on dark", mean)
	}
	// A second load (of the smaller zip alone, to keep the suite fast; the
	// benchmark compares whole loads) gives the same content fingerprint as
	// the same classes of the first.
	eval, err := Select(ds, Options{Split: "evaluation"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadOmniglotZip(filepath.Join(dir, "images_evaluation.zip"), 28)
	if err != nil {
		t.Fatal(err)
	}
	if eval.Fingerprint() != again.Fingerprint() {
		t.Errorf("two loads differ: %s vs %s", eval.Fingerprint(), again.Fingerprint())
	}
	if eval.Fingerprint() == ds.Fingerprint() {
		t.Error("a split has the fingerprint of the whole dataset")
	}
}

func TestOmniglotFingerprintIgnoresArchiveOrderAndForm(t *testing.T) {
	entries := fakeOmniglot(t, "images_background", []string{"Alpha", "Beta"}, 2)
	reversed := make([]entry, len(entries))
	for i, e := range entries {
		reversed[len(entries)-1-i] = e
	}
	dirA, dirB, dirC := t.TempDir(), t.TempDir(), t.TempDir()
	writeFile(t, dirA, "images_background.zip", zipBytes(t, entries))
	writeFile(t, dirB, "images_background.zip", zipBytes(t, reversed))
	for _, e := range reversed {
		writeFile(t, dirC, e.name, e.data)
	}
	var fps []string
	for _, dir := range []string{dirA, dirB, dirC} {
		ds, err := Open(dir, Options{Size: 8})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds.Classes) != 4 || ds.NumImages() != 80 {
			t.Fatalf("%s: %d classes %d images, want 4 and 80", dir, len(ds.Classes), ds.NumImages())
		}
		fps = append(fps, ds.Fingerprint())
	}
	if fps[0] != fps[1] || fps[0] != fps[2] {
		t.Errorf("fingerprints differ across entry order or zip/folder: %v", fps)
	}
	// And the fingerprint does see content: another size differs.
	ds, err := Open(dirA, Options{Size: 9})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Fingerprint() == fps[0] {
		t.Error("fingerprint ignores image size")
	}
}

// TestBadInputErrors is acceptance point 3: each bad input gives a clear
// error naming the file, row or value at fault, and no panic.
func TestBadInputErrors(t *testing.T) {
	good := fakeOmniglot(t, "images_background", []string{"Alpha"}, 2)
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) (spec string, opts Options)
		is    error
		want  []string
	}{
		{"corrupt PNG", func(t *testing.T, dir string) (string, Options) {
			es := append([]entry(nil), good...)
			es[5] = entry{es[5].name, []byte("\x89PNG\r\n\x1a\n garbage")}
			writeFile(t, dir, "images_background.zip", zipBytes(t, es))
			return dir, Options{}
		}, ErrFormat, []string{"images_background/Alpha/character01/0001_06.png"}},
		{"character folder missing an image", func(t *testing.T, dir string) (string, Options) {
			es := append(append([]entry(nil), good[:26]...), good[27:]...)
			for _, e := range es {
				writeFile(t, dir, e.name, e.data)
			}
			return dir, Options{}
		}, ErrMissing, []string{`"Alpha/character02"`, "19 images", "0002_07.png"}},
		{"empty split", func(t *testing.T, dir string) (string, Options) {
			writeFile(t, dir, "images_background.zip", zipBytes(t, good))
			return filepath.Join(dir, "images_background.zip"), Options{Split: "evaluation"}
		}, ErrEmpty, []string{`split "evaluation"`}},
		{"zip that is not Omniglot", func(t *testing.T, dir string) (string, Options) {
			writeFile(t, dir, "images_background.zip", zipBytes(t, []entry{{"photos/cat.png", good[0].data}}))
			return dir, Options{}
		}, ErrFormat, []string{"images_background.zip", "not an Omniglot split", "photos/cat.png"}},
		{"file that is not a zip", func(t *testing.T, dir string) (string, Options) {
			writeFile(t, dir, "images_background.zip", []byte("not a zip at all"))
			return dir, Options{}
		}, ErrFormat, []string{"images_background.zip"}},
		{"CSV row naming a missing file", func(t *testing.T, dir string) (string, Options) {
			writeFile(t, dir, "images/a1.png", good[0].data)
			writeFile(t, dir, "train.csv", []byte("filename,label\na1.png,n01\nmissing.jpg,n01\n"))
			return dir, Options{Split: "train"}
		}, ErrMissing, []string{"train.csv:3", `"missing.jpg"`}},
		{"malformed CSV row", func(t *testing.T, dir string) (string, Options) {
			writeFile(t, dir, "images/a1.png", good[0].data)
			writeFile(t, dir, "train.csv", []byte("filename,label\na1.png\n"))
			return dir, Options{}
		}, ErrFormat, []string{"train.csv:2"}},
		{"unknown split", func(t *testing.T, dir string) (string, Options) {
			return "glyphs:alphabets=2,chars=2,drawers=2", Options{Split: "training"}
		}, ErrConfig, []string{`"training"`}},
		{"bad glyphs spec", func(t *testing.T, dir string) (string, Options) {
			return "glyphs:seed=x", Options{}
		}, ErrConfig, []string{`seed="x"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec, opts := tc.setup(t, t.TempDir())
			_, err := Open(spec, opts)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, tc.is) {
				t.Errorf("error %q does not wrap %v", err, tc.is)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %s", err, w)
				}
			}
		})
	}
}

func TestSamplerConfigErrors(t *testing.T) {
	ds := testDataset(t, 5, 4, 6)
	tests := []struct {
		name string
		cfg  SamplerConfig
		want string
	}{
		{"N larger than the classes", SamplerConfig{Kind: params.KindEpisode, Way: 6, Shot: 1, Query: 1}, "6-way episodes need 6 classes, the dataset has 5"},
		{"K+Q larger than the images per class", SamplerConfig{Kind: params.KindEpisode, Way: 2, Shot: 3, Query: 2}, "shot 3 + query 2 = 5 images per class, but class"},
		{"odd pairs", SamplerConfig{Kind: params.KindPairs, Pairs: 3}, "3 pairs"},
		{"no triplets", SamplerConfig{Kind: params.KindTriplets}, "0 triplets"},
		{"unknown kind", SamplerConfig{Kind: 9}, "unknown batch kind 9"},
		{"huge batch", SamplerConfig{Kind: params.KindPairs, Pairs: 1 << 20}, "images per batch"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewSampler(ds, tc.cfg)
			if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want ErrConfig mentioning %q", err, tc.want)
			}
		})
	}
	if _, err := NewSampler(nil, SamplerConfig{Kind: params.KindEpisode, Way: 1, Shot: 1}); !errors.Is(err, ErrEmpty) {
		t.Errorf("nil dataset: got %v, want ErrEmpty", err)
	}
}

func TestFolderAndMiniImageNetLoad(t *testing.T) {
	red := pngBytes(t, 10, 6, func(x, y int) uint8 { return uint8(20 * x) })
	tree := t.TempDir()
	writeFile(t, tree, "cats/a.png", red)
	writeFile(t, tree, "cats/b.png", red)
	writeFile(t, tree, "dogs/c.png", red)
	writeFile(t, tree, "dogs/notes.txt", []byte("ignored"))
	writeFile(t, tree, ".hidden/x.png", []byte("ignored"))
	ds, err := Open(tree, Options{Size: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Classes) != 2 || ds.Classes[0].Name != "cats" || ds.Classes[0].Count != 2 || ds.Classes[1].Count != 1 {
		t.Fatalf("classes %+v", ds.Classes)
	}
	// Not inverted, stretched: left columns dark, right bright.
	img := ds.Image(0)
	if img[0] >= img[4] {
		t.Errorf("row 0 = %v, want increasing left to right", img[:5])
	}

	mini := t.TempDir()
	writeFile(t, mini, "images/x1.jpg", red) // PNG bytes under .jpg: content decides
	writeFile(t, mini, "images/x2.png", red)
	writeFile(t, mini, "images/x3.png", red)
	writeFile(t, mini, "train.csv", []byte("filename,label\nx1.jpg,n1\nx2.png,n2\n"))
	writeFile(t, mini, "test.csv", []byte("filename,label\nx3.png,n3\n"))
	for _, tc := range []struct {
		split string
		want  int
	}{{"", 3}, {"train", 2}, {"test", 1}} {
		ds, err := Open(mini, Options{Split: tc.split})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds.Classes) != tc.want {
			t.Errorf("split %q: %d classes, want %d", tc.split, len(ds.Classes), tc.want)
		}
	}
	if _, err := Open(filepath.Join(mini, "train.csv"), Options{}); err == nil {
		t.Error("a CSV file as spec: no error")
	}
	if _, err := Open(filepath.Join(mini, "nope"), Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing path: got %v", err)
	}
}
