package episodes

import (
	"archive/zip"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/image/draw"
)

// firstOmniglotPNG returns the bytes of the first PNG of the background zip.
func firstOmniglotPNG(b *testing.B) []byte {
	dir := omniglotDir(b)
	zr, err := zip.OpenReader(filepath.Join(dir, "images_background.zip"))
	if err != nil {
		b.Fatal(err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		if filepath.Ext(f.Name) == ".png" {
			data, err := readZipFile(f)
			if err != nil {
				b.Fatal(err)
			}
			return data
		}
	}
	b.Fatal("no PNG")
	return nil
}

// BenchmarkResize decodes one 105×105 Omniglot PNG and resizes it to 28×28
// with each candidate filter.
func BenchmarkResize(b *testing.B) {
	data := firstOmniglotPNG(b)
	for _, k := range []struct {
		name string
		f    draw.Interpolator
	}{{"CatmullRom", draw.CatmullRom}, {"BiLinear", draw.BiLinear}, {"ApproxBiLinear", draw.ApproxBiLinear}} {
		b.Run(k.name, func(b *testing.B) {
			old := resizeFilter
			defer func() { resizeFilter = old }()
			if kk, ok := k.f.(*draw.Kernel); ok {
				resizeFilter = kk
			} else {
				resizeFilter = nil
				approx = k.f
				defer func() { approx = nil }()
			}
			var sc scalerCache
			for b.Loop() {
				if _, err := decodeImage(data, 28, 1, true, &sc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	_ = os.Getenv
}
