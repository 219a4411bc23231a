package episodes

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // class-per-folder trees and miniImageNet hold JPEGs
	_ "image/png"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/image/draw"

	"github.com/fsl-project/fsl/params"
)

// maxImageSide bounds the width and height of an image we agree to decode,
// so a hostile header cannot make us allocate gigabytes.
const maxImageSide = 4096

// resizeFilter is the kernel used to resize every image. x/image's kernel
// scalers widen the kernel's support when shrinking, so the bilinear (tent)
// kernel averages every source pixel and Omniglot's 1-pixel strokes survive
// 105→28 as grey, where ApproxBiLinear samples only 2×2 pixels per output
// and can drop a stroke between samples. The tent has half the taps of
// Catmull-Rom (support 1 vs 2), which is what keeps loading both Omniglot
// zips within budget; BenchmarkResize measures all three.
var resizeFilter = draw.BiLinear

// decodeImage decodes a PNG or JPEG, converts it to 8-bit grayscale
// (channels 1) or to 8-bit red, green and blue planes (channels 3),
// inverted when invert is set (so that dark strokes on white become bright
// strokes on black), and resizes each plane to size×size, stretching
// non-square images. The result is a fresh slice of channels*size*size
// bytes, its planes one after another. A grayscale image is the one plane
// the gray path has always made; the colour path resizes each plane the
// same way, with the same scaler.
func decodeImage(data []byte, size, channels int, invert bool, sc *scalerCache) ([]uint8, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("decode image: %v: %w", err, ErrFormat)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > maxImageSide || cfg.Height > maxImageSide {
		return nil, fmt.Errorf("decode %s image: %dx%d pixels, want 1..%d per side: %w", format, cfg.Width, cfg.Height, maxImageSide, ErrFormat)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("decode %s image: %v: %w", format, err, ErrFormat)
	}
	var planes []*image.Gray
	if channels == params.RGB {
		r, g, b := toRGB(img, invert)
		planes = []*image.Gray{r, g, b}
	} else {
		planes = []*image.Gray{toGray(img, invert)}
	}
	hw := size * size
	out := make([]uint8, len(planes)*hw)
	for p, plane := range planes {
		resizePlane(out[p*hw:(p+1)*hw], plane, size, sc)
	}
	return out, nil
}

// resizePlane writes src resized to size×size into out (size*size bytes):
// a copy when src already has that size, else resizeFilter's scaler.
func resizePlane(out []uint8, src *image.Gray, size int, sc *scalerCache) {
	b := src.Bounds()
	if b.Dx() == size && b.Dy() == size {
		for y := 0; y < size; y++ {
			copy(out[y*size:(y+1)*size], src.Pix[y*src.Stride:])
		}
		return
	}
	dst := &image.Gray{Pix: out, Stride: size, Rect: image.Rect(0, 0, size, size)}
	sc.get(size, b.Dx(), b.Dy()).Scale(dst, dst.Rect, src, b, draw.Src, nil)
}

// toGray converts img to a fresh *image.Gray at origin (0,0), inverting if
// asked. Paletted (Omniglot's 1-bit PNGs) and Gray have fast paths.
func toGray(img image.Image, invert bool) *image.Gray {
	b := img.Bounds()
	g := image.NewGray(image.Rect(0, 0, b.Dx(), b.Dy()))
	var flip uint8
	if invert {
		flip = 0xff
	}
	switch src := img.(type) {
	case *image.Paletted:
		var lut [256]uint8
		for i, c := range src.Palette {
			lut[i] = color.GrayModel.Convert(c).(color.Gray).Y ^ flip
		}
		for y := 0; y < b.Dy(); y++ {
			row := src.Pix[(y)*src.Stride:]
			for x := 0; x < b.Dx(); x++ {
				g.Pix[y*g.Stride+x] = lut[row[x]]
			}
		}
	case *image.Gray:
		for y := 0; y < b.Dy(); y++ {
			row := src.Pix[y*src.Stride:]
			for x := 0; x < b.Dx(); x++ {
				g.Pix[y*g.Stride+x] = row[x] ^ flip
			}
		}
	default:
		for y := 0; y < b.Dy(); y++ {
			for x := 0; x < b.Dx(); x++ {
				v := color.GrayModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.Gray).Y
				g.Pix[y*g.Stride+x] = v ^ flip
			}
		}
	}
	return g
}

// toRGB converts img to three fresh planes at origin (0,0), red, green and
// blue, inverting if asked. A colour with alpha counts as drawn on black
// (its premultiplied value), as toGray's conversion takes it. YCbCr (JPEG),
// RGBA, Gray and Paletted have fast paths that give the generic path's
// values.
func toRGB(img image.Image, invert bool) (r, g, b *image.Gray) {
	bd := img.Bounds()
	w, h := bd.Dx(), bd.Dy()
	rect := image.Rect(0, 0, w, h)
	r, g, b = image.NewGray(rect), image.NewGray(rect), image.NewGray(rect)
	var flip uint8
	if invert {
		flip = 0xff
	}
	set := func(i int, rv, gv, bv uint8) {
		r.Pix[i], g.Pix[i], b.Pix[i] = rv^flip, gv^flip, bv^flip
	}
	// r, g and b hold w-pixel rows: image.NewGray's stride is its width
	switch src := img.(type) {
	case *image.YCbCr:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				yi, ci := src.YOffset(bd.Min.X+x, bd.Min.Y+y), src.COffset(bd.Min.X+x, bd.Min.Y+y)
				rv, gv, bv := color.YCbCrToRGB(src.Y[yi], src.Cb[ci], src.Cr[ci])
				set(y*w+x, rv, gv, bv)
			}
		}
	case *image.RGBA:
		for y := 0; y < h; y++ {
			row := src.Pix[y*src.Stride:]
			for x := 0; x < w; x++ {
				set(y*w+x, row[4*x], row[4*x+1], row[4*x+2])
			}
		}
	case *image.Gray:
		for y := 0; y < h; y++ {
			row := src.Pix[y*src.Stride:]
			for x := 0; x < w; x++ {
				set(y*w+x, row[x], row[x], row[x])
			}
		}
	case *image.Paletted:
		var lut [256][3]uint8
		for i, c := range src.Palette {
			cr, cg, cb, _ := c.RGBA()
			lut[i] = [3]uint8{uint8(cr >> 8), uint8(cg >> 8), uint8(cb >> 8)}
		}
		for y := 0; y < h; y++ {
			row := src.Pix[y*src.Stride:]
			for x := 0; x < w; x++ {
				c := lut[row[x]]
				set(y*w+x, c[0], c[1], c[2])
			}
		}
	default:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				cr, cg, cb, _ := img.At(bd.Min.X+x, bd.Min.Y+y).RGBA()
				set(y*w+x, uint8(cr>>8), uint8(cg>>8), uint8(cb>>8))
			}
		}
	}
	return r, g, b
}

// scalerCache keeps one prepared scaler per (dst, src) geometry; it belongs
// to one goroutine.
type scalerCache struct {
	key [3]int
	s   draw.Scaler
}

// approx, when set (benchmarks only), replaces resizeFilter by a
// non-kernel interpolator such as draw.ApproxBiLinear.
var approx draw.Interpolator

func (c *scalerCache) get(size, w, h int) draw.Scaler {
	if approx != nil {
		return approx
	}
	if c == nil {
		return resizeFilter.NewScaler(size, size, w, h)
	}
	k := [3]int{size, w, h}
	if c.s == nil || c.key != k {
		c.key, c.s = k, resizeFilter.NewScaler(size, size, w, h)
	}
	return c.s
}

// parallel runs fn(cache, i) for every i in [0, n) on runtime.GOMAXPROCS(0)
// goroutines. Work order is arbitrary but callers write results by index, so
// output order is deterministic; the returned error is the one of the
// smallest failing i, so it too does not depend on scheduling.
func parallel(n int, fn func(sc *scalerCache, i int) error) error {
	workers := min(runtime.GOMAXPROCS(0), n)
	errs := make([]error, n)
	var next atomic.Int64
	var failed atomic.Bool
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var sc scalerCache
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if failed.Load() {
					// Indices claimed after a failure are all larger than
					// the failing one: skipping them cannot hide a smaller
					// error.
					continue
				}
				if err := fn(&sc, i); err != nil {
					errs[i] = err
					failed.Store(true)
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
