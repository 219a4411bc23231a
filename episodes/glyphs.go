package episodes

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/fsl-project/fsl/params"
)

// GlyphsConfig describes a synthetic glyphs dataset. The zero value, after
// defaults, is 20 alphabets × 20 characters × 20 drawers from seed 0: 400
// classes and 8,000 images, generated in well under a second.
type GlyphsConfig struct {
	Seed       uint64
	Alphabets  int // default 20
	Characters int // per alphabet; default 20
	Drawers    int // drawings per character; default 20
	Size       int // image side in pixels; default 28
	// Channels is 0 or 1 for the grayscale glyphs, 3 for glyphs drawn in
	// colour: each character has a colour of its own (a hue and a
	// saturation), which each drawing varies a little (hue ±0.04, brightness
	// 75–100%); the strokes are the grayscale glyphs' strokes.
	Channels int
}

func (c GlyphsConfig) withDefaults() GlyphsConfig {
	if c.Alphabets == 0 {
		c.Alphabets = 20
	}
	if c.Characters == 0 {
		c.Characters = 20
	}
	if c.Drawers == 0 {
		c.Drawers = 20
	}
	if c.Size == 0 {
		c.Size = DefaultSize
	}
	if c.Channels == 0 {
		c.Channels = params.Gray
	}
	return c
}

// maxGlyphImages bounds a generated dataset (about 3 GB at 28×28 would be
// absurd for a synthetic demo set).
const maxGlyphImages = 1 << 21

// parseGlyphsSpec parses "glyphs" or "glyphs:seed=7,alphabets=10,chars=20,
// drawers=20".
func parseGlyphsSpec(spec string) (GlyphsConfig, error) {
	var c GlyphsConfig
	rest, _ := strings.CutPrefix(spec, "glyphs")
	rest, _ = strings.CutPrefix(rest, ":")
	if rest == "" {
		return c, nil
	}
	for _, kv := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return c, fmt.Errorf("glyphs spec %q: %q is not key=value: %w", spec, kv, ErrConfig)
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 63)
		if err != nil {
			return c, fmt.Errorf("glyphs spec %q: %s=%q is not a non-negative integer: %w", spec, k, v, ErrConfig)
		}
		switch strings.TrimSpace(k) {
		case "seed":
			c.Seed = n
		case "alphabets":
			c.Alphabets = int(n)
		case "chars", "characters":
			c.Characters = int(n)
		case "drawers":
			c.Drawers = int(n)
		default:
			return c, fmt.Errorf("glyphs spec %q: unknown key %q (want seed, alphabets, chars, drawers): %w", spec, k, ErrConfig)
		}
	}
	return c, nil
}

// Glyphs generates the synthetic glyphs dataset: alphabets of characters
// drawn as 2–4 quadratic strokes picked from a per-alphabet stroke set (so
// characters of one alphabet share a style and differ in composition), each
// drawn by every drawer with that drawer's slant, scale and pen width plus
// per-drawing jitter of control points, translation (±3 px at 28×28),
// rotation (±12°), scale and stroke thickness. Raw pixels are therefore a
// mediocre metric while class shapes stay distinct. Strokes are 255 on a 0
// background, antialiased; with Channels 3 each character's strokes are
// drawn in its colour (GlyphsConfig.Channels) on black.
//
// The first ceil(60%) of alphabets have Set "background", the rest
// "evaluation", mirroring Omniglot's 30/20 split; groups are alphabets,
// drawers are 1..Drawers. The result is a pure function of the config.
func Glyphs(cfg GlyphsConfig) (*Dataset, error) {
	cfg = cfg.withDefaults()
	if cfg.Alphabets < 1 || cfg.Characters < 1 || cfg.Drawers < 1 || cfg.Size < 8 {
		return nil, fmt.Errorf("glyphs %+v: want alphabets, characters, drawers >= 1 and size >= 8: %w", cfg, ErrConfig)
	}
	if cfg.Channels != params.Gray && cfg.Channels != params.RGB {
		return nil, fmt.Errorf("glyphs %+v: channels %d, want %d or %d: %w", cfg, cfg.Channels, params.Gray, params.RGB, ErrConfig)
	}
	if cfg.Alphabets*cfg.Characters > maxGlyphImages || cfg.Alphabets*cfg.Characters*cfg.Drawers > maxGlyphImages {
		return nil, fmt.Errorf("glyphs %+v: more than %d images: %w", cfg, maxGlyphImages, ErrConfig)
	}
	name := fmt.Sprintf("glyphs:seed=%d,alphabets=%d,chars=%d,drawers=%d", cfg.Seed, cfg.Alphabets, cfg.Characters, cfg.Drawers)
	nClass := cfg.Alphabets * cfg.Characters
	chars := make([]glyph, nClass)
	for a := 0; a < cfg.Alphabets; a++ {
		ar := newRNG(domainGlyph, cfg.Seed, 1, uint64(a))
		prims := make([]stroke, 6)
		for i := range prims {
			prims[i] = randomStroke(ar)
		}
		for c := 0; c < cfg.Characters; c++ {
			chars[a*cfg.Characters+c] = newGlyph(ar, prims)
		}
	}
	drawers := make([]drawerStyle, cfg.Drawers)
	for d := range drawers {
		dr := newRNG(domainGlyph, cfg.Seed, 2, uint64(d))
		drawers[d] = drawerStyle{
			slant: dr.uniform(-0.2, 0.2),
			scale: dr.uniform(0.88, 1.08),
			width: dr.uniform(0.9, 2.0),
		}
	}
	n := cfg.Size * cfg.Size
	per := cfg.Channels * n
	total := nClass * cfg.Drawers
	pixels := make([]uint8, total*per)
	_ = parallel(total, func(_ *scalerCache, i int) error {
		cls, d := i/cfg.Drawers, i%cfg.Drawers
		r := newRNG(domainGlyph, cfg.Seed, 3, uint64(cls), uint64(d))
		if cfg.Channels == params.Gray {
			chars[cls].render(pixels[i*n:(i+1)*n], cfg.Size, drawers[d], r)
			return nil
		}
		// the strokes of the grayscale glyph, then its colour: streams of
		// their own, so the strokes are the grayscale dataset's
		plane := make([]uint8, n)
		chars[cls].render(plane, cfg.Size, drawers[d], r)
		colourize(pixels[i*per:(i+1)*per], plane, glyphColour(cfg.Seed, cls, d))
		return nil
	})
	classes := make([]Class, nClass)
	sources := make([]string, total)
	drawerIDs := make([]int32, total)
	bg := (cfg.Alphabets*6 + 9) / 10
	for cls := range classes {
		a, c := cls/cfg.Characters, cls%cfg.Characters
		set := "background"
		if a >= bg {
			set = "evaluation"
		}
		group := fmt.Sprintf("alphabet%02d", a+1)
		classes[cls] = Class{Name: fmt.Sprintf("%s/character%02d", group, c+1), Group: group, Set: set, First: cls * cfg.Drawers, Count: cfg.Drawers}
		for d := 0; d < cfg.Drawers; d++ {
			i := cls*cfg.Drawers + d
			sources[i] = fmt.Sprintf("%s/%s/drawer%02d", name, classes[cls].Name, d+1)
			drawerIDs[i] = int32(d + 1)
		}
	}
	return NewDataset(name, cfg.Size, cfg.Channels, classes, pixels, sources, drawerIDs)
}

// glyphColour is drawing d of character cls's colour, red, green and blue
// in [0, 1]: the character's hue and saturation, the hue moved a little and
// the brightness drawn per drawing.
func glyphColour(seed uint64, cls, d int) [3]float64 {
	cr := newRNG(domainGlyph, seed, 4, uint64(cls))
	hue, sat := cr.float(), cr.uniform(0.6, 1)
	dr := newRNG(domainGlyph, seed, 5, uint64(cls), uint64(d))
	hue += dr.uniform(-0.04, 0.04)
	return hsv(hue-math.Floor(hue), sat, dr.uniform(0.75, 1))
}

// hsv converts a hue in [0, 1), saturation and value to red, green, blue.
func hsv(h, s, v float64) [3]float64 {
	h6 := h * 6
	sector := int(h6) % 6
	f := h6 - math.Floor(h6)
	p, q, t := v*(1-s), v*(1-s*f), v*(1-s*(1-f))
	switch sector {
	case 0:
		return [3]float64{v, t, p}
	case 1:
		return [3]float64{q, v, p}
	case 2:
		return [3]float64{p, v, t}
	case 3:
		return [3]float64{p, q, v}
	case 4:
		return [3]float64{t, p, v}
	}
	return [3]float64{v, p, q}
}

// colourize writes the three planes of a glyph drawn in colour c into dst:
// each plane is the grayscale stroke intensity scaled by that channel.
func colourize(dst, plane []uint8, c [3]float64) {
	n := len(plane)
	for ch := 0; ch < 3; ch++ {
		out := dst[ch*n : (ch+1)*n]
		for i, v := range plane {
			out[i] = uint8(math.Round(float64(v) * c[ch]))
		}
	}
}

// point is in the unit square, y down.
type point struct{ x, y float64 }

// stroke is a quadratic Bézier curve.
type stroke struct{ p0, p1, p2 point }

func randomStroke(r *rng) stroke {
	rp := func() point { return point{r.uniform(0.1, 0.9), r.uniform(0.1, 0.9)} }
	s := stroke{rp(), rp(), rp()}
	// Re-draw degenerate (too short) strokes a bounded number of times.
	for i := 0; i < 8 && math.Hypot(s.p2.x-s.p0.x, s.p2.y-s.p0.y) < 0.35; i++ {
		s.p2 = rp()
	}
	return s
}

// glyph is one character: strokes placed by character-specific affines.
type glyph struct{ strokes []stroke }

func newGlyph(r *rng, prims []stroke) glyph {
	k := 2 + r.intn(3)
	g := glyph{strokes: make([]stroke, k)}
	for i := range g.strokes {
		p := prims[r.intn(len(prims))]
		// Place the primitive: scale about the centre, rotate by a multiple of
		// 45° plus noise, shift. Composition makes characters distinct.
		sc := r.uniform(0.55, 1.0)
		th := float64(r.intn(8))*math.Pi/4 + r.uniform(-0.2, 0.2)
		dx, dy := r.uniform(-0.2, 0.2), r.uniform(-0.2, 0.2)
		tf := func(q point) point {
			x, y := (q.x-0.5)*sc, (q.y-0.5)*sc
			c, s := math.Cos(th), math.Sin(th)
			return clampPoint(point{0.5 + c*x - s*y + dx, 0.5 + s*x + c*y + dy})
		}
		g.strokes[i] = stroke{tf(p.p0), tf(p.p1), tf(p.p2)}
	}
	return g
}

func clampPoint(p point) point {
	return point{math.Min(0.92, math.Max(0.08, p.x)), math.Min(0.92, math.Max(0.08, p.y))}
}

// drawerStyle is what one person does to every character they draw.
type drawerStyle struct {
	slant, scale, width float64
}

// render draws g into dst (size×size, zeroed) as drawer ds, with per-drawing
// jitter from r.
func (g glyph) render(dst []uint8, size int, ds drawerStyle, r *rng) {
	const segs = 10
	jit := 0.035
	th := r.uniform(-0.21, 0.21) // ±12°
	sc := ds.scale * r.uniform(0.9, 1.1)
	tx := r.uniform(-3, 3) / 28
	ty := r.uniform(-3, 3) / 28
	width := (ds.width + r.uniform(-0.3, 0.3)) * float64(size) / 28
	c, s := math.Cos(th), math.Sin(th)
	toPix := func(q point) point {
		x, y := q.x-0.5, q.y-0.5
		x += ds.slant * y
		x, y = x*sc, y*sc
		x, y = c*x-s*y, s*x+c*y
		return point{(0.5 + x + tx) * float64(size), (0.5 + y + ty) * float64(size)}
	}
	jp := func(q point) point { return point{q.x + r.uniform(-jit, jit), q.y + r.uniform(-jit, jit)} }
	for _, st := range g.strokes {
		p0, p1, p2 := jp(st.p0), jp(st.p1), jp(st.p2)
		prev := toPix(p0)
		for k := 1; k <= segs; k++ {
			t := float64(k) / segs
			u := 1 - t
			q := point{u*u*p0.x + 2*u*t*p1.x + t*t*p2.x, u*u*p0.y + 2*u*t*p1.y + t*t*p2.y}
			cur := toPix(q)
			drawSegment(dst, size, prev, cur, width/2)
			prev = cur
		}
	}
}

// drawSegment max-blends an antialiased thick segment of half-width rad
// (pixels) into dst.
func drawSegment(dst []uint8, size int, a, b point, rad float64) {
	x0 := int(math.Floor(math.Min(a.x, b.x) - rad - 1))
	x1 := int(math.Ceil(math.Max(a.x, b.x) + rad + 1))
	y0 := int(math.Floor(math.Min(a.y, b.y) - rad - 1))
	y1 := int(math.Ceil(math.Max(a.y, b.y) + rad + 1))
	x0, y0 = max(x0, 0), max(y0, 0)
	x1, y1 = min(x1, size-1), min(y1, size-1)
	dx, dy := b.x-a.x, b.y-a.y
	l2 := dx*dx + dy*dy
	for y := y0; y <= y1; y++ {
		for x := x0; x <= x1; x++ {
			px, py := float64(x)+0.5, float64(y)+0.5
			t := 0.0
			if l2 > 0 {
				t = math.Max(0, math.Min(1, ((px-a.x)*dx+(py-a.y)*dy)/l2))
			}
			ex, ey := px-(a.x+t*dx), py-(a.y+t*dy)
			v := rad + 0.5 - math.Sqrt(ex*ex+ey*ey)
			if v <= 0 {
				continue
			}
			iv := uint8(255)
			if v < 1 {
				iv = uint8(v * 255)
			}
			if iv > dst[y*size+x] {
				dst[y*size+x] = iv
			}
		}
	}
}
