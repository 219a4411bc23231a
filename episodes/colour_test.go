package episodes

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/fsl-project/fsl/params"
)

// colourPNG encodes a w×h PNG filled with c.
func colourPNG(tb testing.TB, w, h int, c color.Color) []byte {
	tb.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// TestFolderLoadsColourPlanes: a tree of a pure red and a pure blue class
// loads with channels 3 as red and blue planes, and its batches carry
// them; with channels 1 (or 0) the tree loads as it always has, in gray.
func TestFolderLoadsColourPlanes(t *testing.T) {
	tree := t.TempDir()
	red, blue := color.RGBA{255, 0, 0, 255}, color.RGBA{0, 0, 255, 255}
	for i, name := range []string{"a.png", "b.png", "c.png"} {
		// non-square and of other sizes: every plane goes through the scaler
		writeFile(t, tree, "red/"+name, colourPNG(t, 10+i, 7, red))
		writeFile(t, tree, "blue/"+name, colourPNG(t, 9, 12+i, blue))
	}
	ds, err := Open(tree, Options{Size: 6, Channels: params.RGB})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Channels != params.RGB || ds.BytesPerImage() != 3*36 || len(ds.Classes) != 2 || ds.Classes[0].Name != "blue" {
		t.Fatalf("channels %d, %d bytes per image, classes %+v", ds.Channels, ds.BytesPerImage(), ds.Classes)
	}
	s, err := NewSampler(ds, SamplerConfig{Kind: params.KindEpisode, Way: 2, Shot: 1, Query: 2})
	if err != nil {
		t.Fatal(err)
	}
	b := s.Batch(1, 0, 0)
	if b.Channels != params.RGB || len(b.Pixels) != b.Images()*3*36 || b.CheckShape() != nil {
		t.Fatalf("batch channels %d, %d pixel bytes for %d images", b.Channels, len(b.Pixels), b.Images())
	}
	// planes: 0 red, 1 green, 2 blue; which class is which label varies
	plane := func(img []uint8, p int) []uint8 { return img[p*36 : (p+1)*36] }
	all := func(px []uint8, v uint8) bool {
		for _, x := range px {
			if x != v {
				return false
			}
		}
		return true
	}
	for i := 0; i < b.Images(); i++ {
		img := b.Image(i)
		isRed := all(plane(img, 0), 255) && all(plane(img, 2), 0)
		isBlue := all(plane(img, 0), 0) && all(plane(img, 2), 255)
		if !all(plane(img, 1), 0) || isRed == isBlue {
			t.Fatalf("image %d (label %d) is neither pure red nor pure blue: %v", i, b.Labels[i], img)
		}
		// the support image of its label has its colour
		if sup := b.Image(int(b.Labels[i])); !bytes.Equal(sup, img) {
			t.Errorf("image %d differs from its class's support image", i)
		}
	}
	if bytes.Equal(b.Image(0), b.Image(1)) {
		t.Error("the two classes' images are the same")
	}

	for _, c := range []int{0, params.Gray} {
		gray, err := Open(tree, Options{Size: 6, Channels: c})
		if err != nil {
			t.Fatal(err)
		}
		if gray.Channels != params.Gray || gray.BytesPerImage() != 36 {
			t.Fatalf("channels %d: dataset has %d channels, %d bytes per image", c, gray.Channels, gray.BytesPerImage())
		}
		want, err := DecodeImage(colourPNG(t, 9, 12, blue), 6, false)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(gray.Image(0), want) {
			t.Errorf("channels %d: blue image %v, want the grayscale decoding %v", c, gray.Image(0), want)
		}
		gs, err := NewSampler(gray, SamplerConfig{Kind: params.KindEpisode, Way: 2, Shot: 1, Query: 2})
		if err != nil {
			t.Fatal(err)
		}
		if gb := gs.Batch(1, 0, 0); gb.Channels != 0 || len(gb.Pixels) != gb.Images()*36 {
			t.Errorf("channels %d: grayscale batch has Channels %d, %d pixel bytes", c, gb.Channels, len(gb.Pixels))
		}
	}
}

// TestMiniImageNetLoadsColour: miniImageNet's JPEGs decode to three planes.
func TestMiniImageNetLoadsColour(t *testing.T) {
	mini := t.TempDir()
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for i := range img.Pix {
		img.Pix[i] = []uint8{200, 30, 30, 255}[i%4]
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	writeFile(t, mini, "images/x1.jpg", buf.Bytes())
	writeFile(t, mini, "images/x2.jpg", buf.Bytes())
	writeFile(t, mini, "train.csv", []byte("filename,label\nx1.jpg,n1\nx2.jpg,n2\n"))
	ds, err := Open(mini, Options{Size: 8, Channels: params.RGB})
	if err != nil {
		t.Fatal(err)
	}
	px := ds.Image(0)
	if ds.Channels != params.RGB || len(px) != 3*64 {
		t.Fatalf("channels %d, %d bytes", ds.Channels, len(px))
	}
	if r, g := px[0], px[64]; r < 180 || g > 60 {
		t.Errorf("reddish JPEG decoded to red %d, green %d", r, g)
	}
}

// TestToRGBFastPathsMatchTheGenericOne: the YCbCr, RGBA, Gray and Paletted
// fast paths give what the generic colour conversion gives.
func TestToRGBFastPathsMatchTheGenericOne(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	r := image.Rect(3, 5, 3+13, 5+9) // off the origin
	ycc := image.NewYCbCr(r, image.YCbCrSubsampleRatio420)
	for _, p := range [][]uint8{ycc.Y, ycc.Cb, ycc.Cr} {
		for i := range p {
			p[i] = uint8(rng.IntN(256))
		}
	}
	rgba, gray := image.NewRGBA(r), image.NewGray(r)
	for i := range rgba.Pix {
		rgba.Pix[i] = uint8(rng.IntN(256))
	}
	for i := range gray.Pix {
		gray.Pix[i] = uint8(rng.IntN(256))
	}
	pal := image.NewPaletted(r, color.Palette{color.RGBA{1, 2, 3, 255}, color.Gray{200}, color.NRGBA{10, 200, 30, 128}})
	for i := range pal.Pix {
		pal.Pix[i] = uint8(rng.IntN(3))
	}
	for _, img := range []image.Image{ycc, rgba, gray, pal} {
		for _, invert := range []bool{false, true} {
			gr, gg, gb := toRGB(img, invert)
			// the generic path: an image type without a fast path
			wr, wg, wb := toRGB(struct{ image.Image }{img}, invert)
			for p, pair := range [][2]*image.Gray{{gr, wr}, {gg, wg}, {gb, wb}} {
				if !bytes.Equal(pair[0].Pix, pair[1].Pix) {
					t.Errorf("%T, invert %v: plane %d differs from the generic conversion", img, invert, p)
				}
			}
		}
	}
}

func TestOmniglotRefusesColour(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "images_background.zip", zipBytes(t, fakeOmniglot(t, "images_background", []string{"Alpha"}, 2)))
	if _, err := Open(dir, Options{Size: 8, Channels: params.RGB}); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "grayscale") {
		t.Errorf("Omniglot folder with channels 3: %v, want ErrConfig saying Omniglot is grayscale", err)
	}
	if _, err := Open(dir+"/images_background.zip", Options{Size: 8, Channels: params.RGB}); !errors.Is(err, ErrConfig) {
		t.Errorf("Omniglot zip with channels 3: %v, want ErrConfig", err)
	}
	if _, err := Open(dir, Options{Size: 8, Channels: 2}); !errors.Is(err, ErrConfig) {
		t.Errorf("channels 2: %v, want ErrConfig", err)
	}
	if ds, err := Open(dir, Options{Size: 8, Channels: params.Gray}); err != nil || ds.Channels != params.Gray {
		t.Errorf("Omniglot with channels 1: %v", err)
	}
}

// TestColourGlyphs: the colour glyphs are a pure function of the config,
// their strokes are the grayscale glyphs' strokes, characters differ in
// colour, and 84×84×3 generates.
func TestColourGlyphs(t *testing.T) {
	cfg := GlyphsConfig{Seed: 3, Alphabets: 2, Characters: 4, Drawers: 3}
	gray, err := Glyphs(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Channels = params.RGB
	a, err := Glyphs(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Glyphs(cfg)
	if a.Fingerprint() != b.Fingerprint() || a.Fingerprint() == gray.Fingerprint() || a.Channels != params.RGB {
		t.Fatalf("fingerprints %s, %s (gray %s), channels %d", a.Fingerprint(), b.Fingerprint(), gray.Fingerprint(), a.Channels)
	}
	n := 28 * 28
	mean := make([][3]float64, len(a.Classes))
	for i := 0; i < a.NumImages(); i++ {
		g, c := gray.Image(i), a.Image(i)
		for j := 0; j < n; j++ {
			for p := 0; p < 3; p++ {
				if c[p*n+j] > g[j] {
					t.Fatalf("image %d pixel %d plane %d: %d brighter than the stroke %d", i, j, p, c[p*n+j], g[j])
				}
				mean[i/cfg.Drawers][p] += float64(c[p*n+j])
			}
		}
	}
	for k := 1; k < len(mean); k++ {
		if mean[k] == mean[0] {
			t.Errorf("characters 0 and %d have the same colour sums", k)
		}
	}
	big, err := Open("glyphs:alphabets=2,chars=2,drawers=2", Options{Size: 84, Channels: params.RGB})
	if err != nil || big.BytesPerImage() != 84*84*3 {
		t.Fatalf("84×84×3 glyphs: %v", err)
	}
	if _, err := Glyphs(GlyphsConfig{Channels: 2}); !errors.Is(err, ErrConfig) {
		t.Errorf("glyphs with channels 2: %v, want ErrConfig", err)
	}
}

// TestGrayscaleFingerprintIsTheOneBeforeColour pins the default glyphs'
// fingerprints from the build before datasets had channels.
func TestGrayscaleFingerprintIsTheOneBeforeColour(t *testing.T) {
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{}, "68e0f1c60b1b94dee1afec0bf51d2b2d10b92efe1cc628f8317cf6a0d940e014"},
		{Options{Size: 84, Channels: params.Gray}, "1659b6f1b2fb45965c60bba75c1cd7b25cfedd4ec0bd25fa8337b5ac0ae2ee6e"},
	} {
		ds, err := Open("glyphs", tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		if fp := ds.Fingerprint(); fp != tc.want {
			t.Errorf("%+v: fingerprint %s, want %s", tc.opts, fp, tc.want)
		}
	}
}

// TestRotatedColourClassesTurnEveryPlane: a rotated class's image is each
// plane of the original turned.
func TestRotatedColourClassesTurnEveryPlane(t *testing.T) {
	ds, err := Glyphs(GlyphsConfig{Alphabets: 1, Characters: 2, Drawers: 2, Size: 8, Channels: params.RGB})
	if err != nil {
		t.Fatal(err)
	}
	rot, err := Select(ds, Options{Rotations: true})
	if err != nil {
		t.Fatal(err)
	}
	got := make([]uint8, rot.BytesPerImage())
	rot.ClassImage(1, 0, got) // class 0 turned 90°
	src := ds.Image(0)
	want := make([]uint8, 64)
	for p := 0; p < 3; p++ {
		rotate(want, src[p*64:(p+1)*64], 8, 1)
		if !bytes.Equal(got[p*64:(p+1)*64], want) {
			t.Errorf("plane %d of the 90° image is not the original's plane turned", p)
		}
	}
}
