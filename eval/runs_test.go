package eval

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fsl-project/fsl/params"
)

const testSide = 16 // model.MinSize: synthetic runs need no resizing

func TestReadOfficialRunsParsesLabelsAndPixels(t *testing.T) {
	files := runsFiles(t, testSide)
	r, err := ReadOfficialRuns("all_runs.zip", zipOf(t, files), testSide)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Runs) != OfficialRunCount || r.Items() != OfficialRunCount*OfficialRunWay || r.Size != testSide || len(r.Fingerprint()) != 64 {
		t.Fatalf("%d runs, %d items, size %d, fingerprint %q", len(r.Runs), r.Items(), r.Size, r.Fingerprint())
	}
	for ri, run := range r.Runs {
		if run.Name != fmt.Sprintf("run%02d", ri+1) {
			t.Fatalf("run %d named %q", ri, run.Name)
		}
		for i, label := range run.Labels {
			want := (i+1)*7 + ri + 1
			if label != want%OfficialRunWay {
				t.Fatalf("%s item %d: label %d, want class%02d (index %d)", run.Name, i+1, label, want%OfficialRunWay+1, want%OfficialRunWay)
			}
		}
	}
	// Inverted like the Omniglot loader: the white background becomes 0,
	// black strokes 255.
	px := r.Runs[0].Training[:testSide*testSide]
	var zeros, full int
	for _, v := range px {
		switch v {
		case 0:
			zeros++
		case 255:
			full++
		}
	}
	if zeros+full != len(px) || zeros < full || full == 0 {
		t.Errorf("first training image: %d background (0) and %d stroke (255) pixels of %d", zeros, full, len(px))
	}
	again, err := ReadOfficialRuns("other-name.zip", zipOf(t, files), testSide)
	if err != nil || again.Fingerprint() != r.Fingerprint() {
		t.Errorf("same content, fingerprints %q and %q (%v)", r.Fingerprint(), again.Fingerprint(), err)
	}
	files["run07/test/item03.png"] = glyphPNG(t, testSide, 8, 3)
	changed, err := ReadOfficialRuns("all_runs.zip", zipOf(t, files), testSide)
	if err != nil || changed.Fingerprint() == r.Fingerprint() {
		t.Errorf("one image changed, fingerprint unchanged (%v)", err)
	}
}

func TestReadOfficialRunsResizesToTheRequestedSide(t *testing.T) {
	r, err := ReadOfficialRuns("all_runs.zip", zipOf(t, runsFiles(t, 21)), testSide)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(r.Runs[3].Test); got != OfficialRunWay*testSide*testSide || r.Size != testSide {
		t.Errorf("run04 test pixels %d, want %d", got, OfficialRunWay*testSide*testSide)
	}
}

func TestReadOfficialRunsRejectsMalformedArchives(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(map[string][]byte)
		raw    []byte // used instead of the edited files when set
		size   int    // testSide when 0
		inMsgs []string
	}{
		{name: "not a zip", raw: []byte("this is not a zip archive"), inMsgs: []string{"all_runs.zip", "not a zip"}},
		{name: "empty file", raw: []byte{}, inMsgs: []string{"not a zip"}},
		{name: "a negative image size", raw: []byte{}, size: -3, inMsgs: []string{"image size -3"}},
		{name: "a huge image size", raw: []byte{}, size: 1 << 40, inMsgs: []string{"image size 1099511627776"}},
		{name: "missing class_labels.txt", edit: func(f map[string][]byte) { delete(f, "run05/class_labels.txt") },
			inMsgs: []string{"19 runs with a class_labels.txt, want 20"}},
		{name: "a line naming a missing test item", edit: func(f map[string][]byte) { delete(f, "run03/test/item04.png") },
			inMsgs: []string{"run03/class_labels.txt line 4", "run03/test/item04.png", "not in the archive"}},
		{name: "a line naming a missing training image", edit: func(f map[string][]byte) {
			f["run02/class_labels.txt"] = []byte(strings.Replace(string(f["run02/class_labels.txt"]), "training/class", "training/klass", 1))
		}, inMsgs: []string{"run02/class_labels.txt line 1", "run02/training/klass", "not in the archive"}},
		{name: "a line with three fields", edit: func(f map[string][]byte) {
			f["run09/class_labels.txt"] = append([]byte("a b c\n"), f["run09/class_labels.txt"]...)
		}, inMsgs: []string{"run09/class_labels.txt line 1", "3 fields"}},
		{name: "a test item of another run", edit: func(f map[string][]byte) {
			f["run10/class_labels.txt"] = []byte(strings.Replace(string(f["run10/class_labels.txt"]), "run10/test/item01.png", "run11/test/item01.png", 1))
		}, inMsgs: []string{"run10/class_labels.txt line 1", "not in run10/test"}},
		{name: "a bad PNG", edit: func(f map[string][]byte) { f["run04/training/class11.png"] = []byte("\x89PNG\r\n\x1a\ngarbage") },
			inMsgs: []string{"run04/training/class11.png", "decode image"}},
		{name: "19 test items", edit: func(f map[string][]byte) {
			lines := strings.SplitAfter(string(f["run06/class_labels.txt"]), "\n")
			f["run06/class_labels.txt"] = []byte(strings.Join(lines[1:], ""))
		}, inMsgs: []string{"run06/class_labels.txt labels 19 test items, want 20"}},
		{name: "a test item labelled twice", edit: func(f map[string][]byte) {
			lines := strings.SplitAfter(string(f["run08/class_labels.txt"]), "\n")
			lines[1] = lines[0]
			f["run08/class_labels.txt"] = []byte(strings.Join(lines, ""))
		}, inMsgs: []string{"run08/class_labels.txt line 2", "already labelled on line 1"}},
		{name: "21 training images", edit: func(f map[string][]byte) { f["run12/training/class21.png"] = glyphPNG(t, testSide, 1, 1) },
			inMsgs: []string{"run12/training holds 21 images, want 20"}},
		{name: "a run out of sequence", edit: func(f map[string][]byte) {
			for n, b := range f {
				if strings.HasPrefix(n, "run20/") {
					delete(f, n)
					f["run21/"+strings.TrimPrefix(n, "run20/")] = []byte(strings.ReplaceAll(string(b), "run20/", "run21/"))
				}
			}
		}, inMsgs: []string{"run 20 is \"run21/class_labels.txt\""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.raw
			if data == nil {
				files := runsFiles(t, testSide)
				tc.edit(files)
				data = zipOf(t, files)
			}
			size := tc.size
			if size == 0 {
				size = testSide
			}
			r, err := ReadOfficialRuns("all_runs.zip", data, size)
			if err == nil {
				t.Fatalf("no error; %d runs", len(r.Runs))
			}
			if !errors.Is(err, ErrRuns) {
				t.Errorf("error %q does not wrap ErrRuns", err)
			}
			for _, m := range tc.inMsgs {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not say %q", err, m)
				}
			}
		})
	}
}

func TestLoadOfficialRunsNamesAMissingFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "all_runs.zip")
	_, err := LoadOfficialRuns(p, 28)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), p) {
		t.Errorf("error %v, want not-exist naming %s", err, p)
	}
}

// firstRuns is runs cut to its first n runs, to keep evaluation tests fast.
func firstRuns(t *testing.T, side, n int) *OfficialRuns {
	t.Helper()
	runs, err := ReadOfficialRuns("all_runs.zip", zipOf(t, runsFiles(t, side)), side)
	if err != nil {
		t.Fatal(err)
	}
	runs.Runs = runs.Runs[:n]
	return runs
}

func TestRunsScoresItemsAgainstTheirTrainingImages(t *testing.T) {
	runs := firstRuns(t, testSide, 4)
	net := testNet(t, testSide, params.KindEpisode, 3)
	// Each test item is a copy of its class's training image: at distance
	// 0 it is always nearest, so every item is right.
	for _, c := range []Classifier{NearestPrototype, NearestNeighbour} {
		var calls, last int
		rep, err := Runs(net, runs, c, func(done, total int) { calls++; last = done })
		if err != nil {
			t.Fatal(err)
		}
		if rep.Items != 80 || rep.Correct != 80 || rep.Overall != 1 || rep.Mean != 1 || rep.CI95 != 0 || rep.Episodes != 4 || len(rep.PerRun) != 4 {
			t.Errorf("%s: %+v", c, rep)
		}
		if rep.Protocol != OfficialRunsProtocol || rep.Way != 20 || rep.Shot != 1 || rep.Fingerprint != runs.Fingerprint() || rep.Classifier != c {
			t.Errorf("%s: report header %+v", c, rep.Report)
		}
		if calls != 4 || last != 160 {
			t.Errorf("%s: progress called %d times, last with %d, want 4 and 160", c, calls, last)
		}
	}
	// Relabel run 1 item 1 and every item of run 2 to a wrong class.
	runs.Runs[0].Labels[0] = (runs.Runs[0].Labels[0] + 1) % OfficialRunWay
	for i := range runs.Runs[1].Labels {
		runs.Runs[1].Labels[i] = (runs.Runs[1].Labels[i] + 3) % OfficialRunWay
	}
	rep, err := Runs(net, runs, NearestNeighbour, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Run accuracies 19/20, 0, 1, 1: mean 0.7375, 59 of 80 items.
	want := Summarize([]float64{0.95, 0, 1, 1})
	if rep.Correct != 59 || rep.PerRun[0].Correct != 19 || rep.PerRun[1].Correct != 0 ||
		math.Abs(rep.Mean-0.7375) > 1e-12 || math.Abs(rep.CI95-want.CI95) > 1e-12 || math.Abs(rep.Overall-59.0/80) > 1e-12 {
		t.Errorf("relabelled: %+v", rep)
	}
	if !strings.Contains(rep.String(), OfficialRunsProtocol) || !strings.Contains(rep.String(), "4 runs, 80 items, 59 correct") {
		t.Errorf("String() = %q", rep.String())
	}
}

func TestRunsRefusesAMismatchedModel(t *testing.T) {
	runs := firstRuns(t, testSide, 1)
	tests := []struct {
		name string
		net  Net
		c    Classifier
		msg  string
	}{
		{"image size", testNet(t, 20, params.KindEpisode, 1), NearestNeighbour, "the model takes 20×20"},
		{"siamese without a head", testNet(t, testSide, params.KindEpisode, 1), SiameseHead, "siamese loss"},
		{"unknown classifier", testNet(t, testSide, params.KindEpisode, 1), "cosine", "unknown classifier"},
		{"no model", Net{}, NearestNeighbour, "no model"},
		{"RGB model", colourNet(t, testSide, params.KindEpisode, 1), NearestNeighbour, "grayscale"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Runs(tc.net, runs, tc.c, nil)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %v, want one saying %q", err, tc.msg)
			}
		})
	}
}

func TestRunsWithTheSiameseHead(t *testing.T) {
	runs := firstRuns(t, testSide, 2)
	net := testNet(t, testSide, params.KindPairs, 5)
	a, err := Runs(net, runs, SiameseHead, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Runs(net, runs, SiameseHead, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Items != 40 || a.Mean < 0 || a.Mean > 1 || a.Correct != b.Correct || a.Classifier != SiameseHead {
		t.Errorf("siamese runs %+v and %+v", a, b)
	}
}

func TestOfficialRunsOnRealData(t *testing.T) {
	file := omniglotFile(t, "all_runs.zip")
	runs, err := LoadOfficialRuns(file, 28)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs.Runs) != 20 || runs.Items() != 400 {
		t.Fatalf("%d runs, %d items", len(runs.Runs), runs.Items())
	}
	// Omniglot strokes are thin: after inversion most pixels are dark.
	var sum int
	for _, v := range runs.Runs[0].Training {
		sum += int(v)
	}
	if mean := float64(sum) / float64(len(runs.Runs[0].Training)); mean <= 0 || mean > 96 {
		t.Errorf("run01 training images: mean pixel %.1f, want dark background with bright strokes", mean)
	}
	net := testNet(t, 28, params.KindEpisode, 1)
	a, err := Runs(net, runs, NearestNeighbour, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The same numbers again; under the race detector (slow) from the first
	// runs only, run by run.
	again := *runs
	if raceEnabled {
		again.Runs = runs.Runs[:3]
	}
	b, err := Runs(net, &again, NearestNeighbour, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range b.PerRun {
		if r != a.PerRun[i] {
			t.Errorf("%s: %+v, then %+v", r.Run, a.PerRun[i], r)
		}
	}
	if a.Items != 400 || len(a.PerRun) != 20 || a.Episodes != 20 || a.Mean < 0 || a.Mean > 1 || a.Overall < 0 || a.Overall > 1 {
		t.Errorf("report %+v", a)
	}
	if !raceEnabled && (a.Correct != b.Correct || a.Mean != b.Mean || a.CI95 != b.CI95 || a.Fingerprint != b.Fingerprint) {
		t.Errorf("two evaluations differ: %v vs %v", a, b)
	}
	// Untrained Conv-4 features are far better than chance (5%) at 20-way
	// one-shot: a broken decode (not inverted, wrong labels) falls to chance.
	if a.Overall < 0.15 {
		t.Errorf("untrained Conv-4: %.1f%% on the official runs, want well above 5%% chance", 100*a.Overall)
	}
	t.Logf("untrained Conv-4 (seed 1): %s", a)
}
