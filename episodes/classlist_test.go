package episodes

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseClassList(t *testing.T) {
	tests := []struct {
		name, text string
		want       []ClassEntry
		err        error
		errHas     string
	}{
		{"two classes", "Latin/character01/rot000\nLatin/character01/rot270\n",
			[]ClassEntry{{1, "Latin/character01", 0}, {2, "Latin/character01", 3}}, nil, ""},
		{"comments and blanks", "# a split\n\n  Greek/character02/rot090  \r\n",
			[]ClassEntry{{3, "Greek/character02", 1}}, nil, ""},
		{"no rotation", "Latin/character01\n", nil, ErrFormat, "x.txt:1:"},
		{"bad rotation", "Latin/character01/rot000\nLatin/character01/rot045\n", nil, ErrFormat, "x.txt:2: rotation rot045"},
		{"too many parts", "a/b/c/rot000\n", nil, ErrFormat, "x.txt:1:"},
		{"listed twice", "A/c1/rot000\nA/c2/rot000\nA/c1/rot000\n", nil, ErrFormat, "x.txt:3: A/c1/rot000 is listed already on line 1"},
		{"empty", "# nothing\n", nil, ErrEmpty, "no classes"},
		{"line too long", strings.Repeat("x", 5000), nil, ErrFormat, "x.txt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := ParseClassList("x.txt", []byte(tt.text))
			if tt.err != nil {
				if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("err %v, want %v containing %q", err, tt.err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(l.Entries) != len(tt.want) {
				t.Fatalf("entries %v, want %v", l.Entries, tt.want)
			}
			for i, e := range l.Entries {
				if e != tt.want[i] {
					t.Errorf("entry %d: %+v, want %+v", i, e, tt.want[i])
				}
			}
		})
	}
}

// TestClassListSplits opens a fake Omniglot folder with class lists beside
// it: by name (splits/NAME/LIST.txt), by path, and with the errors a user
// meets — a character the zips lack, rotations on top of a list, and a
// test class whose character is in training — each naming file and line.
func TestClassListSplits(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "images_background.zip", zipBytes(t, fakeOmniglot(t, "images_background", []string{"Alpha", "Beta"}, 2)))
	writeFile(t, dir, "images_evaluation.zip", zipBytes(t, fakeOmniglot(t, "images_evaluation", []string{"Gamma"}, 2)))
	if err := os.MkdirAll(filepath.Join(dir, "splits", "mine"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "splits", "mine"), "train.txt", []byte("Alpha/character01/rot000\nGamma/character02/rot180\n"))
	writeFile(t, filepath.Join(dir, "splits", "mine"), "test.txt", []byte("Beta/character01/rot090\nAlpha/character02/rot000\n"))
	leaky := writeFile(t, dir, "leaky.txt", []byte("Beta/character02/rot000\nGamma/character02/rot090\n"))
	missing := writeFile(t, dir, "missing.txt", []byte("Alpha/character01/rot000\nDelta/character01/rot000\n"))

	ds, err := Open(dir, Options{Split: "mine/train"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Classes) != 2 || ds.Classes[0].Name != "Alpha/character01" || ds.Classes[1].Name != "Gamma/character02/rot180" || ds.Classes[1].Rotation != 2 {
		t.Fatalf("classes %+v", ds.Classes)
	}
	if _, err := Open(dir, Options{Split: filepath.Join(dir, "splits", "mine", "test.txt")}); err != nil {
		t.Errorf("a list by path: %v", err)
	}
	for _, tt := range []struct {
		name string
		opts Options
		has  string
	}{
		{"missing character", Options{Split: missing}, "missing.txt:2: Delta/character01/rot000: no character Delta/character01"},
		{"rotations on a list", Options{Split: "mine/train", Rotations: true}, "turn rotations off"},
		{"no such list", Options{Split: "mine/nope"}, "nope.txt"},
	} {
		if _, err := Open(dir, tt.opts); err == nil || !strings.Contains(err.Error(), tt.has) {
			t.Errorf("%s: err %v, want one containing %q", tt.name, err, tt.has)
		}
	}
	train, err := ReadClassList(filepath.Join(dir, "splits", "mine", "train.txt"))
	if err != nil {
		t.Fatal(err)
	}
	test, err := ReadClassList(leaky)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckDisjoint(train, test); err == nil || !strings.Contains(err.Error(), "leaky.txt:2: Gamma/character02/rot090: character Gamma/character02 is also in") {
		t.Errorf("leaky test split: %v", err)
	}
	if SplitFile(dir, "train") != "" || SplitFile("glyphs", "mine/train") != "" {
		t.Error("a split name, or a list for a dataset that is no folder, taken for a file")
	}
}

func FuzzParseClassList(f *testing.F) {
	f.Add([]byte("Latin/character01/rot000\nLatin/character01/rot090\n"))
	f.Add([]byte("# c\n\nA/b/rot270\r\n"))
	f.Add([]byte("A/b/rot999\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := ParseClassList("f.txt", b)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, e := range l.Entries {
			if e.Rotation < 0 || e.Rotation > 3 || e.Line < 1 || seen[e.String()] {
				t.Fatalf("bad entry %+v", e)
			}
			seen[e.String()] = true
			again, err := ParseClassList("g.txt", []byte(e.String()))
			if err != nil || again.Entries[0].String() != e.String() {
				t.Fatalf("%s does not parse back: %v", e, err)
			}
		}
	})
}
