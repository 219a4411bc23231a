package eval

import (
	"archive/zip"
	"bytes"
	"fmt"
	"image"
	"image/png"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/fsl-project/fsl/model"
	"github.com/fsl-project/fsl/params"
)

// omniglotFile returns the path of a file of the real Omniglot folder
// (FSL_OMNIGLOT, else ../shared/data/omniglot beside the repository root).
// When it is absent the test skips, or fails under FSL_REQUIRE_DATA=1.
func omniglotFile(tb testing.TB, name string) string {
	tb.Helper()
	dir := os.Getenv("FSL_OMNIGLOT")
	if dir == "" {
		root, err := filepath.Abs("..")
		if err != nil {
			tb.Fatal(err)
		}
		dir = filepath.Join(root, "..", "shared", "data", "omniglot")
	}
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil {
		msg := fmt.Sprintf("Omniglot file %s not found (%v); set FSL_OMNIGLOT to the folder holding images_background.zip, images_evaluation.zip and all_runs.zip", name, err)
		if os.Getenv("FSL_REQUIRE_DATA") == "1" {
			tb.Fatal(msg + " (FSL_REQUIRE_DATA=1)")
		}
		tb.Skip(msg)
	}
	return p
}

// testNet is a Conv-4 initialised from seed, as a job starts.
func testNet(tb testing.TB, size int, loss params.Kind, seed uint64) Net {
	tb.Helper()
	m, err := model.New(model.Config{Loss: loss, Size: size})
	if err != nil {
		tb.Fatal(err)
	}
	p, s := m.Init(seed)
	return Net{Model: m, Params: p, State: s}
}

// colourNet is testNet for RGB images.
func colourNet(tb testing.TB, size int, loss params.Kind, seed uint64) Net {
	tb.Helper()
	m, err := model.New(model.Config{Loss: loss, Size: size, Channels: params.RGB})
	if err != nil {
		tb.Fatal(err)
	}
	p, s := m.Init(seed)
	return Net{Model: m, Params: p, State: s}
}

// glyphPNG draws a w×w PNG, black strokes on white like Omniglot's, with
// a pattern that differs for every (run, class).
func glyphPNG(tb testing.TB, w, run, class int) []byte {
	tb.Helper()
	img := image.NewGray(image.Rect(0, 0, w, w))
	for y := 0; y < w; y++ {
		for x := 0; x < w; x++ {
			v := uint8(255)
			// A horizontal bar whose row depends on the class and a
			// vertical bar whose column depends on the run.
			if y/2 == class%(w/2) || x/3 == (run+class/(w/2))%(w/3) {
				v = 0
			}
			img.Pix[y*img.Stride+x] = v
		}
	}
	var buf bytes.Buffer
	// Stored, not deflated: tests decode thousands of these under -race.
	enc := png.Encoder{CompressionLevel: png.NoCompression}
	if err := enc.Encode(&buf, img); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// runsFiles is a synthetic all_runs.zip as name → content: 20 runs, test
// item i of each run is a copy of the training image of class perm(i), and
// class_labels.txt says so. The result is a fresh map the caller may edit.
func runsFiles(tb testing.TB, side int) map[string][]byte {
	tb.Helper()
	synthMu.Lock()
	defer synthMu.Unlock()
	if synthCache[side] == nil {
		synthCache[side] = makeRunsFiles(tb, side)
	}
	return maps.Clone(synthCache[side])
}

var (
	synthMu    sync.Mutex
	synthCache = map[int]map[string][]byte{}
)

func makeRunsFiles(tb testing.TB, side int) map[string][]byte {
	files := map[string][]byte{}
	for r := 1; r <= OfficialRunCount; r++ {
		run := fmt.Sprintf("run%02d", r)
		var labels strings.Builder
		for k := 1; k <= OfficialRunWay; k++ {
			files[fmt.Sprintf("%s/training/class%02d.png", run, k)] = glyphPNG(tb, side, r, k)
		}
		for i := 1; i <= OfficialRunWay; i++ {
			k := (i*7+r)%OfficialRunWay + 1
			files[fmt.Sprintf("%s/test/item%02d.png", run, i)] = glyphPNG(tb, side, r, k)
			fmt.Fprintf(&labels, "%s/test/item%02d.png %s/training/class%02d.png\n", run, i, run, k)
		}
		files[run+"/class_labels.txt"] = []byte(labels.String())
	}
	return files
}

// zipOf writes files into a zip in name order, with folder entries like
// the real archive.
func zipOf(tb testing.TB, files map[string][]byte) []byte {
	tb.Helper()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, n := range names {
		for d := filepath.Dir(n); d != "."; d = filepath.Dir(d) {
			if !dirs[d] {
				dirs[d] = true
				if _, err := zw.CreateHeader(&zip.FileHeader{Name: d + "/", Method: zip.Store}); err != nil {
					tb.Fatal(err)
				}
			}
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: n, Method: zip.Store})
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := w.Write(files[n]); err != nil {
			tb.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}
