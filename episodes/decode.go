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
// (inverted when invert is set, so that dark strokes on white become bright
// strokes on black) and resizes it to size×size, stretching non-square
// images. The result is a fresh slice of size*size bytes.
func decodeImage(data []byte, size int, invert bool, sc *scalerCache) ([]uint8, error) {
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
	gray := toGray(img, invert)
	out := make([]uint8, size*size)
	b := gray.Bounds()
	if b.Dx() == size && b.Dy() == size {
		for y := 0; y < size; y++ {
			copy(out[y*size:(y+1)*size], gray.Pix[y*gray.Stride:])
		}
		return out, nil
	}
	dst := &image.Gray{Pix: out, Stride: size, Rect: image.Rect(0, 0, size, size)}
	sc.get(size, b.Dx(), b.Dy()).Scale(dst, dst.Rect, gray, b, draw.Src, nil)
	return out, nil
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
