package episodes

import (
	"archive/zip"
	"bytes"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

// omniglotDir returns the real Omniglot folder (FSL_OMNIGLOT, else
// ../shared/data/omniglot beside the repository root) or skips.
func omniglotDir(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv("FSL_OMNIGLOT")
	if dir == "" {
		root, err := filepath.Abs("..")
		if err != nil {
			tb.Fatal(err)
		}
		dir = filepath.Join(root, "..", "shared", "data", "omniglot")
	}
	if !fileExists(filepath.Join(dir, "images_background.zip")) || !fileExists(filepath.Join(dir, "images_evaluation.zip")) {
		msg := fmt.Sprintf("Omniglot zips not found in %q; set FSL_OMNIGLOT to the folder holding images_background.zip and images_evaluation.zip", dir)
		if os.Getenv("FSL_REQUIRE_DATA") == "1" {
			tb.Fatal(msg + " (FSL_REQUIRE_DATA=1)")
		}
		tb.Skip(msg)
	}
	return dir
}

// pngBytes encodes a w×h grayscale PNG whose pixel (x, y) is f(x, y).
func pngBytes(tb testing.TB, w, h int, f func(x, y int) uint8) []byte {
	tb.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Pix[y*img.Stride+x] = f(x, y)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// entry is one zip member.
type entry struct {
	name string
	data []byte
}

// zipBytes builds a zip holding entries in the given order.
func zipBytes(tb testing.TB, entries []entry) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		w, err := zw.Create(e.name)
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := w.Write(e.data); err != nil {
			tb.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// fakeOmniglot returns the members of a small Omniglot-layout split: the
// given alphabets with chars characters each, 20 drawings per character,
// each a distinct 12×12 black-on-white PNG.
func fakeOmniglot(tb testing.TB, split string, alphabets []string, chars int) []entry {
	tb.Helper()
	var out []entry
	id := 1
	for ai, a := range alphabets {
		for c := 1; c <= chars; c++ {
			for d := 1; d <= OmniglotDrawers; d++ {
				seed := ai*1000 + c*40 + d
				data := pngBytes(tb, 12, 12, func(x, y int) uint8 {
					if (x*7+y*3+seed)%11 == 0 || x == seed%12 {
						return 0
					}
					return 255
				})
				out = append(out, entry{name: split + "/" + a + "/character" + two(c) + "/" + four(id) + "_" + two(d) + ".png", data: data})
			}
			id++
		}
	}
	return out
}

func two(n int) string  { return string([]byte{byte('0' + n/10%10), byte('0' + n%10)}) }
func four(n int) string { return two(n/100) + two(n%100) }

// writeFile writes data to dir/name, creating folders.
func writeFile(tb testing.TB, dir, name string, data []byte) string {
	tb.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}
